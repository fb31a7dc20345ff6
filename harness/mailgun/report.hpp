// A run's figures for people (text ending in one `summary key=value ...`
// line that scripts parse) and for programs (--json).
#pragma once

#include <ostream>
#include <string>

#include "harness/mailgun/tally.hpp"
#include "harness/mailgun/workload.hpp"

namespace bm::mailgun {

void print_report(std::ostream& out, const Workload& workload, const Tally& tally);
// Throws std::runtime_error when the file cannot be written.
void write_json_report(const std::string& path, const Workload& workload, const Tally& tally);

}  // namespace bm::mailgun

"""The parts of harness/replay: a deterministic open-loop pcap workload for
`baremail --fixed-isn`, its run on net_pcap, and the check of every reply."""

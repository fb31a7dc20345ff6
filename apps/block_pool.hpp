// The task pool of the bare-PC server: a machine's cold state (line
// buffer, envelope, body, pending replies) lives in a block taken when
// the session first needs it and given back when the session ends, so an
// idle connection carries only its phase, and a block's strings keep their
// capacity from one session to the next — once the pool has grown to the
// most sessions ever busy at once, a session allocates nothing of its own.
//
// One pool per thread (each build runs its machines on one thread: the
// poll loop or the epoll loop), so taking and giving need no lock. Blocks
// are never freed before the thread ends; a block given back keeps what it
// held, and the taker clears it (keeping capacities).
#pragma once

#include <cstddef>
#include <new>
#include <utility>

namespace bm::apps {

template <class Block>
class BlockPool {
public:
    BlockPool() = default;
    BlockPool(const BlockPool&) = delete;
    BlockPool& operator=(const BlockPool&) = delete;
    ~BlockPool() {
        while (made_) delete std::exchange(made_, made_->made_next);
    }

    static BlockPool& local() {
        thread_local BlockPool pool;
        return pool;
    }

    Block* take() {
        if (!free_) grow();
        Node* node = std::exchange(free_, free_->free_next);
        ++in_use_;
        return node;
    }
    void give(Block* block) {
        Node* node = static_cast<Node*>(block);  // every block handed out is a Node
        node->free_next = std::exchange(free_, node);
        --in_use_;
    }
    // Makes blocks ahead of need, up to `count` in all (start-up, tests).
    void reserve(std::size_t count) {
        while (made_count_ < count) grow();
    }

    std::size_t made() const { return made_count_; }
    std::size_t in_use() const { return in_use_; }

private:
    struct Node : Block {
        Node* free_next = nullptr;
        Node* made_next = nullptr;
    };

    void grow() {
        Node* node = new Node;
        node->made_next = std::exchange(made_, node);
        node->free_next = std::exchange(free_, node);
        ++made_count_;
    }

    Node* free_ = nullptr;
    Node* made_ = nullptr;
    std::size_t made_count_ = 0;
    std::size_t in_use_ = 0;
};

// A session's block: taken on first use, given back with the session.
template <class Block>
class PooledBlock {
public:
    PooledBlock() = default;
    PooledBlock(const PooledBlock&) = delete;
    PooledBlock& operator=(const PooledBlock&) = delete;
    ~PooledBlock() { release(); }

    bool held() const { return block_ != nullptr; }
    // The block, taken (and cleared by `clear`) if not yet held.
    template <class Clear>
    Block& get(Clear clear) {
        if (!block_) {
            block_ = BlockPool<Block>::local().take();
            clear(*block_);
        }
        return *block_;
    }
    Block* peek() const { return block_; }
    void release() {
        if (block_) BlockPool<Block>::local().give(std::exchange(block_, nullptr));
    }

private:
    Block* block_ = nullptr;
};

// A machine too big to sit in every TCB (the POP3 server with its
// maildrop view, the relay client with its message), built in a pooled
// block instead: the connection holds a pointer, the block goes back to
// the pool with the machine.
template <class Machine>
class PooledMachine {
public:
    template <class... Args>
    explicit PooledMachine(Args&&... args) : storage_(BlockPool<Storage>::local().take()) {
        try {
            new (storage_->bytes) Machine(std::forward<Args>(args)...);
        } catch (...) {
            BlockPool<Storage>::local().give(storage_);
            throw;
        }
    }
    PooledMachine(const PooledMachine&) = delete;
    PooledMachine& operator=(const PooledMachine&) = delete;
    ~PooledMachine() {
        get().~Machine();
        BlockPool<Storage>::local().give(storage_);
    }
    Machine& get() { return *std::launder(reinterpret_cast<Machine*>(storage_->bytes)); }

private:
    struct Storage {
        alignas(Machine) unsigned char bytes[sizeof(Machine)];
    };
    Storage* storage_;
};

}  // namespace bm::apps

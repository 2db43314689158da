#pragma once
// Which kind of thread is running. The server marks its I/O threads; code
// that blocks (SQLite, hashing, xgboost) calls require_blocking_allowed(),
// which aborts if it ever runs on an I/O thread. See server/README.md.

namespace careloop::core {

enum class ThreadRole { unknown, io, compute, writer };

void set_thread_role(ThreadRole role) noexcept;
ThreadRole thread_role() noexcept;

// Aborts the process with a message when called on an I/O thread.
void require_blocking_allowed(const char* what) noexcept;

}  // namespace careloop::core

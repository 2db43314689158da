#include "careloop/core/thread_role.hpp"

#include <cstdio>
#include <cstdlib>

namespace careloop::core {
namespace {
thread_local ThreadRole current_role = ThreadRole::unknown;
}

void set_thread_role(ThreadRole role) noexcept { current_role = role; }
ThreadRole thread_role() noexcept { return current_role; }

void require_blocking_allowed(const char* what) noexcept {
  if (current_role == ThreadRole::io) {
    std::fprintf(stderr, "careloop: blocking call '%s' on an I/O thread\n", what);
    std::abort();
  }
}

}  // namespace careloop::core

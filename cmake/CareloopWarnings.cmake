# careloop_module(NAME) — common settings for every CareLoop target:
# warnings, -Werror under CI, sanitizers when CARELOOP_SANITIZE is on.
function(careloop_target_options target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic)
  # GCC 12 reports a false -Wmismatched-new-delete for every coroutine frame of
  # asio::awaitable (its frame allocator defines a sized operator delete).
  if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
    target_compile_options(${target} PRIVATE -Wno-mismatched-new-delete)
  endif()
  if(CARELOOP_WERROR)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
  if(CARELOOP_SANITIZE)
    target_compile_options(${target} PRIVATE -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined)
    target_link_options(${target} PUBLIC -fsanitize=address,undefined)
  endif()
endfunction()

# careloop_module(NAME) — common settings for every CareLoop target:
# warnings, -Werror under CI, sanitizers when CARELOOP_SANITIZE is on.
function(careloop_target_options target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic)
  # GCC 12 reports a false -Wmismatched-new-delete for every coroutine frame of
  # asio::awaitable (its frame allocator defines a sized operator delete).
  if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
    target_compile_options(${target} PRIVATE -Wno-mismatched-new-delete)
    # GCC 12 at -O3 (Release) reports -Wrestrict inside libstdc++'s own
    # std::string appends and inserts (GCC bugs 105329, 105651: fixed in 13),
    # pages of them for code that overlaps nothing. Only there: the -O2 builds
    # keep the warning (and their compiler cache).
    if(CMAKE_CXX_COMPILER_VERSION VERSION_LESS 13)
      target_compile_options(${target} PRIVATE $<$<CONFIG:Release>:-Wno-restrict>)
    endif()
  endif()
  if(CARELOOP_WERROR)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
  if(CARELOOP_SANITIZE)
    target_compile_options(${target} PRIVATE -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined)
    target_link_options(${target} PUBLIC -fsanitize=address,undefined)
  endif()
endfunction()

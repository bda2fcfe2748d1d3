# cmake -DEXPECT=REGEX -P expect.cmake COMMAND [ARG]...
#
# Runs COMMAND and passes only when it exits 0 AND its output (stdout and stderr) matches
# REGEX. ctest's PASS_REGULAR_EXPRESSION alone ignores the exit code, so a harness that
# prints "0 failed" and then exits with valgrind's --error-exitcode, or crashes after its
# summary, would pass; every test with an expected summary runs through this script.
set(cmd)
set(seen_script FALSE)
math(EXPR last "${CMAKE_ARGC} - 1")
foreach(i RANGE 1 ${last})
  if(seen_script)
    list(APPEND cmd "${CMAKE_ARGV${i}}")
  elseif(CMAKE_ARGV${i} STREQUAL "-P")
    math(EXPR next "${i} + 1")
    set(skip ${next})
  elseif(DEFINED skip AND i EQUAL skip)
    set(seen_script TRUE)
  endif()
endforeach()
if(NOT cmd)
  message(FATAL_ERROR "expect.cmake: no command given")
endif()
if(NOT DEFINED EXPECT)
  message(FATAL_ERROR "expect.cmake: -DEXPECT=REGEX is required")
endif()

execute_process(COMMAND ${cmd} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
message("${out}")
if(NOT rc STREQUAL "0")
  message(FATAL_ERROR "expect.cmake: ${cmd} exited with ${rc}")
endif()
if(NOT out MATCHES "${EXPECT}")
  message(FATAL_ERROR "expect.cmake: the output does not match: ${EXPECT}")
endif()

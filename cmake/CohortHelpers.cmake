# Small helpers in the spirit of Abseil's absl_cc_library: one call per module target.
#
#   cohort_cc_library(NAME secagg HDRS a.h SRCS a.cc DEPS cohort::base OpenSSL::Crypto)
#     -> static library cohort_secagg, alias cohort::secagg. Without SRCS: an INTERFACE target,
#        for pure interfaces that fakes can link without the implementation.
#   cohort_cc_test(NAME secagg_shamir SRCS shamir_test.cc DEPS cohort::secagg)
#     -> executable shamir_test linked with Catch2's main, tests registered with CTest.
#   cohort_cc_binary(NAME cohort-server SRCS main.cc DEPS ...)

set(COHORT_WARNINGS -Wall -Wextra -Werror -Wno-missing-field-initializers)

function(cohort_cc_library)
  cmake_parse_arguments(CC "" "NAME" "HDRS;SRCS;DEPS;PRIVATE_DEPS" ${ARGN})
  set(_target cohort_${CC_NAME})
  if(CC_SRCS)
    add_library(${_target} STATIC ${CC_SRCS} ${CC_HDRS})
    target_include_directories(${_target} PUBLIC ${PROJECT_SOURCE_DIR} ${PROJECT_BINARY_DIR}/gen)
    target_link_libraries(${_target} PUBLIC ${CC_DEPS} PRIVATE ${CC_PRIVATE_DEPS})
    target_compile_options(${_target} PRIVATE ${COHORT_WARNINGS})
  else()
    add_library(${_target} INTERFACE ${CC_HDRS})
    target_include_directories(${_target} INTERFACE ${PROJECT_SOURCE_DIR} ${PROJECT_BINARY_DIR}/gen)
    target_link_libraries(${_target} INTERFACE ${CC_DEPS})
  endif()
  add_library(cohort::${CC_NAME} ALIAS ${_target})
endfunction()

function(cohort_cc_binary)
  cmake_parse_arguments(CC "" "NAME" "SRCS;DEPS" ${ARGN})
  add_executable(${CC_NAME} ${CC_SRCS})
  target_link_libraries(${CC_NAME} PRIVATE ${CC_DEPS})
  target_compile_options(${CC_NAME} PRIVATE ${COHORT_WARNINGS})
endfunction()

# Tests are built and registered only when BUILD_TESTING is on (include(CTest) sets it), and not
# in an SDK-only build, which has no Catch2 (its one test is a plain C program).
function(cohort_cc_test)
  if(NOT BUILD_TESTING OR COHORT_SDK_ONLY)
    return()
  endif()
  cmake_parse_arguments(CC "" "NAME;TIMEOUT" "SRCS;DEPS;LABELS" ${ARGN})
  set(_exe ${CC_NAME}_test)
  add_executable(${_exe} ${CC_SRCS})
  target_link_libraries(${_exe} PRIVATE ${CC_DEPS} cohort::catch_main)
  target_compile_options(${_exe} PRIVATE ${COHORT_WARNINGS})
  if(NOT CC_TIMEOUT)
    set(CC_TIMEOUT 300)
  endif()
  # PRE_TEST discovery lists the cases when ctest runs, not at link time, so a sanitizer build
  # does not pay for running every binary once more during the build.
  catch_discover_tests(${_exe}
    TEST_PREFIX "${CC_NAME}: "
    DISCOVERY_MODE PRE_TEST
    PROPERTIES TIMEOUT ${CC_TIMEOUT} LABELS "${CC_LABELS}")
endfunction()

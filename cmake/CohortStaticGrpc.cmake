# COHORT_SDK_STATIC_GRPC (SDK-only builds): libcohort_client.so takes gRPC and what only gRPC
# needs (OpenSSL, c-ares, zlib, upb, address_sorting) from Debian's static archives, whose code
# is position-independent, instead of needing their shared libraries at run time. Protobuf, re2
# and abseil stay shared: Debian's libprotobuf.a, libre2.a and some of abseil's archives use the
# local-exec TLS model, which a shared library cannot contain. Debian ships the CMake targets of
# the shared libraries only, so the targets are pointed at the archives here; every program of
# this build links them so, hence SDK-only (the server's binaries keep the shared ones).
option(COHORT_SDK_STATIC_GRPC "Link gRPC, OpenSSL, c-ares and zlib statically into libcohort_client.so" OFF)
if(NOT COHORT_SDK_STATIC_GRPC)
  return()
endif()
foreach(_pair gRPC::grpc++=grpc++ gRPC::grpc=grpc gRPC::gpr=gpr gRPC::upb=upb
              gRPC::address_sorting=address_sorting c-ares::cares=cares OpenSSL::SSL=ssl
              OpenSSL::Crypto=crypto ZLIB::ZLIB=z)
  string(REPLACE "=" ";" _pair ${_pair})
  list(GET _pair 0 _target)
  list(GET _pair 1 _name)
  find_library(COHORT_STATIC_${_name} NAMES lib${_name}.a REQUIRED NO_CACHE)
  set(_archive ${COHORT_STATIC_${_name}})
  set_property(TARGET ${_target} PROPERTY IMPORTED_LOCATION ${_archive})
  get_target_property(_configs ${_target} IMPORTED_CONFIGURATIONS)
  if(_configs)
    foreach(_config ${_configs})
      set_property(TARGET ${_target} PROPERTY IMPORTED_LOCATION_${_config} ${_archive})
    endforeach()
  endif()
endforeach()
message(STATUS "libcohort_client.so links gRPC, OpenSSL, c-ares and zlib statically")

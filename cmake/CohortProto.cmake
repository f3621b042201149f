# cohort_proto_library(NAME protos PROTOS a.proto b.proto GRPC a.proto)
# Runs protoc (and the gRPC plugin for the files listed under GRPC) at build time into
# ${PROJECT_BINARY_DIR}/gen and wraps the generated code in one library, cohort::${NAME}.
function(cohort_proto_library)
  cmake_parse_arguments(P "" "NAME;ROOT" "PROTOS;GRPC" ${ARGN})
  set(_gen ${PROJECT_BINARY_DIR}/gen)
  file(MAKE_DIRECTORY ${_gen})
  set(_srcs)
  foreach(_proto ${P_PROTOS})
    get_filename_component(_abs ${P_ROOT}/${_proto} ABSOLUTE)
    string(REGEX REPLACE "\\.proto$" "" _stem ${_proto})
    set(_outs ${_gen}/${_stem}.pb.cc ${_gen}/${_stem}.pb.h)
    set(_plugin_args)
    if(_proto IN_LIST P_GRPC)
      list(APPEND _outs ${_gen}/${_stem}.grpc.pb.cc ${_gen}/${_stem}.grpc.pb.h ${_gen}/${_stem}_mock.grpc.pb.h)
      set(_plugin_args --grpc_out=generate_mock_code=true:${_gen}
                       --plugin=protoc-gen-grpc=$<TARGET_FILE:gRPC::grpc_cpp_plugin>)
    endif()
    add_custom_command(
      OUTPUT ${_outs}
      COMMAND protobuf::protoc
      ARGS --proto_path=${P_ROOT} --cpp_out=${_gen} ${_plugin_args} ${_abs}
      DEPENDS ${_abs} protobuf::protoc
      COMMENT "protoc ${_proto}"
      VERBATIM)
    list(FILTER _outs INCLUDE REGEX "\\.cc$")
    list(APPEND _srcs ${_outs})
  endforeach()
  add_library(cohort_${P_NAME} STATIC ${_srcs})
  target_include_directories(cohort_${P_NAME} SYSTEM PUBLIC ${_gen})
  target_link_libraries(cohort_${P_NAME} PUBLIC protobuf::libprotobuf gRPC::grpc++)
  add_library(cohort::${P_NAME} ALIAS cohort_${P_NAME})
endfunction()

# Cross-compiling for 64-bit ARM (phones' CPUs) on a Debian amd64 machine, with Debian's cross
# toolchain (g++-aarch64-linux-gnu) and multiarch libraries (libgrpc++-dev:arm64 and the like,
# under /usr/lib/aarch64-linux-gnu). scripts/build-sdk-aarch64.sh uses it with COHORT_SDK_ONLY:
#
#   cmake -S . -B build/aarch64 -G Ninja -DCMAKE_TOOLCHAIN_FILE=cmake/aarch64-linux-gnu.cmake \
#     -DCOHORT_SDK_ONLY=ON -DCOHORT_AARCH64_SYSROOT=<dir with the arm64 XNNPACK .debs unpacked>
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
set(CMAKE_CXX_COMPILER aarch64-linux-gnu-g++)
# Multiarch: find_library and find_package look in lib/aarch64-linux-gnu, never in the host's
# lib/x86_64-linux-gnu. Headers are shared (/usr/include, with /usr/include/aarch64-linux-gnu).
set(CMAKE_LIBRARY_ARCHITECTURE aarch64-linux-gnu)

# XNNPACK, pthreadpool and cpuinfo cannot be installed for arm64 next to their amd64 packages
# (not Multi-Arch: same, or clashing files), so their arm64 .debs are unpacked into a directory
# of the build tree; it is searched before the system.
set(COHORT_AARCH64_SYSROOT "" CACHE PATH "Unpacked arm64 .debs that apt cannot co-install")
list(APPEND CMAKE_TRY_COMPILE_PLATFORM_VARIABLES COHORT_AARCH64_SYSROOT)
set(CMAKE_FIND_ROOT_PATH /usr/aarch64-linux-gnu /)
if(COHORT_AARCH64_SYSROOT)
  list(PREPEND CMAKE_FIND_ROOT_PATH ${COHORT_AARCH64_SYSROOT})
endif()
# Programs (protoc, grpc_cpp_plugin, the emulator) are the host's; libraries, headers and CMake
# packages only the target's, found through the roots above and the multiarch directory.
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)
# pkg-config (FindOpenSSL, gRPC's re2) must read the arm64 .pc files: the host's would point
# find_library at /usr/lib/x86_64-linux-gnu, which the root "/" above does not exclude.
set(ENV{PKG_CONFIG_LIBDIR} "/usr/lib/aarch64-linux-gnu/pkgconfig:/usr/share/pkgconfig")

# ctest runs the target's test binaries through qemu-user (Debian's qemu-user). The aarch64 loader
# and glibc are the multiarch ones (/lib/ld-linux-aarch64.so.1); the unpacked libraries are on
# the guest's library path, since the build tree's RUNPATH does not cover what libXNNPACK.so
# itself needs (libcpuinfo.so.0).
find_program(COHORT_QEMU_AARCH64 qemu-aarch64 REQUIRED)
set(CMAKE_CROSSCOMPILING_EMULATOR ${COHORT_QEMU_AARCH64})
if(COHORT_AARCH64_SYSROOT)
  list(APPEND CMAKE_CROSSCOMPILING_EMULATOR
       -E LD_LIBRARY_PATH=${COHORT_AARCH64_SYSROOT}/usr/lib/aarch64-linux-gnu)
endif()

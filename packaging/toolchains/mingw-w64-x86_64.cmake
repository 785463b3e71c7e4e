# Cross-compile for 64-bit Windows on Linux with mingw-w64 (Debian: apt-get install g++-mingw-w64-x86-64-posix
# mingw-w64-tools). build-package --platform windows passes this file as CMAKE_TOOLCHAIN_FILE unless
# [packaging] windows_toolchain names another.
set(CMAKE_SYSTEM_NAME Windows)
set(CMAKE_SYSTEM_PROCESSOR x86_64)
set(_triplet x86_64-w64-mingw32)

# The posix-threads variant: std::thread and std::mutex need it (the win32 variant lacks them in GCC 12).
find_program(_cxx NAMES ${_triplet}-g++-posix ${_triplet}-g++ REQUIRED)
find_program(_cc NAMES ${_triplet}-gcc-posix ${_triplet}-gcc)
find_program(_rc NAMES ${_triplet}-windres REQUIRED)
set(CMAKE_CXX_COMPILER ${_cxx})
if(_cc)
  set(CMAKE_C_COMPILER ${_cc})
endif()
set(CMAKE_RC_COMPILER ${_rc})

set(CMAKE_FIND_ROOT_PATH /usr/${_triplet})
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)

# Self-contained binaries (no libstdc++-6.dll, libgcc_s_seh-1.dll or libwinpthread-1.dll to ship) and
# reproducible ones: ld writes the link time into the PE header unless told not to.
set(_link "-static -Wl,--no-insert-timestamp")
set(CMAKE_EXE_LINKER_FLAGS_INIT "${_link}")
set(CMAKE_SHARED_LINKER_FLAGS_INIT "${_link}")
set(CMAKE_MODULE_LINKER_FLAGS_INIT "${_link}")

# ctest runs the .exe files through wine where it exists; without it build-package skips ctest and says why.
find_program(_wine NAMES wine64 wine)
if(_wine)
  set(CMAKE_CROSSCOMPILING_EMULATOR ${_wine})
endif()

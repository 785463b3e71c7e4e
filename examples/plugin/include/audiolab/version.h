#ifndef AUDIOLAB_VERSION_H
#define AUDIOLAB_VERSION_H

/*
 * AudioLab Gain version.
 *
 * Checked-in file: the values below are kept in sync by `bump-version` (together with the
 * project() line in CMakeLists.txt, resources/version.rc, resources/Info.plist and plugin.json).
 * Do not edit them by hand and do not generate this header from CMake.
 */
#define AUDIOLAB_GAIN_VERSION_MAJOR 0
#define AUDIOLAB_GAIN_VERSION_MINOR 1
#define AUDIOLAB_GAIN_VERSION_PATCH 0
#define AUDIOLAB_GAIN_VERSION_BUILD 1
#define AUDIOLAB_GAIN_VERSION_STRING "0.1.0"

#endif /* AUDIOLAB_VERSION_H */

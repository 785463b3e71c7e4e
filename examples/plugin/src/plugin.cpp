// The plug-in module: the gain stage behind a plain C ABI, built as a shared module and installed in the VST3
// and CLAP bundle layouts (see CMakeLists.txt). It stands in for a real VST3/CLAP wrapper, whose SDKs this
// sample does not vendor: what release engineering checks (a DLL at the right place in the right layout, signed,
// carrying the version) is the same.
#include "audiolab/gain.h"
#include "audiolab/version.h"

#include <cstddef>

#if defined(_WIN32)
#define AUDIOLAB_EXPORT extern "C" __declspec(dllexport)
#else
#define AUDIOLAB_EXPORT extern "C" __attribute__((visibility("default")))
#endif

AUDIOLAB_EXPORT const char* audiolab_gain_version() { return AUDIOLAB_GAIN_VERSION_STRING; }

AUDIOLAB_EXPORT void audiolab_gain_process(float* samples, std::size_t count, float gain_db, float ceiling_db) {
    audiolab::GainSettings settings;
    settings.gain_db = gain_db;
    settings.ceiling_db = ceiling_db;
    audiolab::GainProcessor(settings).process(samples, count);
}

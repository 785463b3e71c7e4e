// audiolab-gain: command-line host for the AudioLab gain/limiter.
#include "audiolab/gain.h"
#include "audiolab/version.h"
#include "audiolab/wav.h"

#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <iostream>
#include <string>
#include <vector>

namespace {

constexpr int kExitOk = 0;
constexpr int kExitFailure = 1;  // the input was fine but reading or writing a file failed
constexpr int kExitUsage = 2;    // bad usage or bad input

const char* const kUsage =
    "usage: audiolab-gain --gain-db G [--ceiling-db C] [--limiter soft|hard] IN OUT\n"
    "       audiolab-gain --version | --help\n"
    "\n"
    "Applies G dB of gain, then limits the output to a ceiling of C dBFS (default 0, must be <= 0).\n"
    "IN is a WAV file (16-bit integer PCM or 32-bit float, any channel count) and OUT is written in\n"
    "the same format; if IN ends in .raw, both files are raw float32 little-endian mono.\n"
    "\n"
    "exit status: 0 done, 1 a file could not be read or written, 2 bad usage or unsupported input\n";

struct UsageError {
    std::string message;
};

float parse_db(const std::string& option, const std::string& text) {
    errno = 0;
    char* end = nullptr;
    const double value = std::strtod(text.c_str(), &end);
    if (text.empty() || *end != '\0' || errno == ERANGE || !std::isfinite(value) || std::fabs(value) > 1000.0)
        throw UsageError{option + " needs a number of dB, got '" + text + "'"};
    return static_cast<float>(value);
}

bool is_raw(const std::string& path) {
    if (path.size() < 4) return false;
    std::string ext = path.substr(path.size() - 4);
    for (char& c : ext) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return ext == ".raw";
}

int fail(int code, const std::string& what, const std::string& where) {
    std::cerr << "error: " << what << " (" << where << ")\n";
    return code;
}

int run(const audiolab::GainSettings& settings, const std::string& in_path, const std::string& out_path) {
    const bool raw = is_raw(in_path);
    if (raw != is_raw(out_path)) throw UsageError{"IN and OUT must both be .raw or both be WAV files"};

    std::string where = in_path;
    try {
        const std::vector<std::uint8_t> bytes = audiolab::read_file(in_path);
        audiolab::AudioBuffer audio = raw ? audiolab::decode_raw_f32(bytes) : audiolab::decode_wav(bytes);
        audiolab::GainProcessor(settings).process(audio.samples.data(), audio.samples.size());
        where = out_path;
        audiolab::write_file(out_path, raw ? audiolab::encode_raw_f32(audio.samples) : audiolab::encode_wav(audio));
    } catch (const audiolab::FormatError& e) {
        return fail(kExitUsage, e.what(), where);
    } catch (const audiolab::IoError& e) {
        return fail(kExitFailure, e.what(), where);
    }
    return kExitOk;
}

}  // namespace

int main(int argc, char** argv) {
    try {
        audiolab::GainSettings settings;
        bool have_gain = false;
        std::vector<std::string> files;

        for (int i = 1; i < argc; ++i) {
            const std::string arg = argv[i];
            if (arg == "--help" || arg == "-h") {
                std::cout << kUsage;
                return kExitOk;
            }
            if (arg == "--version") {
                std::cout << AUDIOLAB_GAIN_VERSION_STRING << '\n';
                return kExitOk;
            }
            if (arg == "--") {
                files.insert(files.end(), argv + i + 1, argv + argc);
                break;
            }
            if (arg.size() < 2 || arg[0] != '-') {
                files.push_back(arg);
                continue;
            }
            const std::string& name = arg;  // every option takes a value: --name VALUE
            if (name != "--gain-db" && name != "--ceiling-db" && name != "--limiter")
                throw UsageError{"unknown option " + name};
            if (i + 1 >= argc) throw UsageError{name + " needs a value"};
            const std::string value = argv[++i];

            if (name == "--gain-db") {
                settings.gain_db = parse_db(name, value);
                have_gain = true;
            } else if (name == "--ceiling-db") {
                settings.ceiling_db = parse_db(name, value);
                if (settings.ceiling_db > 0.0f) throw UsageError{"--ceiling-db must be <= 0 dBFS, got " + value};
            } else if (value == "soft" || value == "hard") {
                settings.limiter = value == "soft" ? audiolab::LimiterMode::Soft : audiolab::LimiterMode::Hard;
            } else {
                throw UsageError{"--limiter must be 'soft' or 'hard', got '" + value + "'"};
            }
        }

        if (!have_gain) throw UsageError{"missing required option --gain-db"};
        if (files.size() != 2) throw UsageError{"expected two files, IN and OUT"};
        return run(settings, files[0], files[1]);
    } catch (const UsageError& e) {
        return fail(kExitUsage, e.message, "see audiolab-gain --help");
    } catch (const std::exception& e) {
        return fail(kExitFailure, std::string("internal: ") + e.what(), "audiolab-gain");
    }
}

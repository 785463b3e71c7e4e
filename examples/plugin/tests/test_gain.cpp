// Unit tests for the gain library. No framework: CHECK() counts failures (not assert(): Release defines NDEBUG).
#include "audiolab/gain.h"
#include "audiolab/version.h"
#include "audiolab/wav.h"

#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

using namespace audiolab;

static int g_failures = 0;

#define CHECK(cond)                                                                       \
    do {                                                                                  \
        if (!(cond)) {                                                                    \
            std::fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
            ++g_failures;                                                                 \
        }                                                                                 \
    } while (0)

static bool near(float a, float b, float tol = 1e-5f) { return std::fabs(a - b) <= tol; }

static bool rejects(const std::vector<std::uint8_t>& bytes, bool raw = false) {
    try {
        raw ? decode_raw_f32(bytes) : decode_wav(bytes);
    } catch (const FormatError&) {
        return true;
    }
    return false;
}

static void test_gain_math() {
    CHECK(near(db_to_linear(0.0f), 1.0f));
    CHECK(near(db_to_linear(20.0f), 10.0f, 1e-4f));
    CHECK(near(linear_to_db(0.5f), -6.0206f, 1e-3f));
    CHECK(near(linear_to_db(db_to_linear(-17.5f)), -17.5f, 1e-4f));
    CHECK(std::isinf(linear_to_db(0.0f)) && linear_to_db(0.0f) < 0.0f);

    GainProcessor p({-6.0206f, 0.0f, LimiterMode::Hard});
    std::vector<float> buf = {0.0f, 0.5f, -0.5f, 1.0f};
    p.process(buf.data(), buf.size());
    CHECK(near(buf[0], 0.0f) && near(buf[1], 0.25f) && near(buf[2], -0.25f) && near(buf[3], 0.5f));
    CHECK(p.process_sample(std::nanf("")) == 0.0f);
}

static void test_limiters() {
    GainProcessor hard({12.0f, -1.0f, LimiterMode::Hard});
    const float ceiling = db_to_linear(-1.0f);
    CHECK(hard.process_sample(0.9f) == ceiling && hard.process_sample(-0.9f) == -ceiling);
    CHECK(hard.process_sample(INFINITY) == ceiling);
    CHECK(near(hard.process_sample(0.1f), 0.1f * db_to_linear(12.0f)));  // below the ceiling: untouched

    GainProcessor soft({0.0f, -3.0f, LimiterMode::Soft});
    const float soft_ceiling = db_to_linear(-3.0f), knee = soft_ceiling * GainProcessor::kSoftKnee;
    CHECK(soft.process_sample(0.9f * knee) == 0.9f * knee);  // linear below the knee
    float previous = 0.0f;
    for (float x = 0.0f; x < 100.0f; x += 0.01f) {
        const float y = soft.process_sample(x);
        CHECK(y <= soft_ceiling && y >= previous && soft.process_sample(-x) == -y);  // bounded, monotonic, odd
        previous = y;
    }
    CHECK(near(soft.process_sample(1000.0f), soft_ceiling) && soft.process_sample(1e30f) <= soft_ceiling);
}

static void test_wav_round_trip() {
    AudioBuffer f;
    f.channels = 2;
    f.sample_rate = 44100;
    f.samples = {0.0f, -1.0f, 0.5f, 0.123456f, 1.5f, -0.75f};
    const std::string path = std::string(AUDIOLAB_TEST_TMPDIR) + "/roundtrip_f32.wav";
    write_file(path, encode_wav(f));
    const AudioBuffer g = decode_wav(read_file(path));
    std::remove(path.c_str());
    CHECK(g.format == SampleFormat::Float32 && g.channels == 2 && g.sample_rate == 44100);
    CHECK(g.samples == f.samples);  // bit exact

    AudioBuffer i16;
    i16.format = SampleFormat::Pcm16;
    i16.samples = {0.0f, 0.5f, -1.0f, 32767.0f / 32768.0f, -0.25f};
    const AudioBuffer j16 = decode_wav(encode_wav(i16));
    CHECK(j16.format == SampleFormat::Pcm16 && j16.channels == 1 && j16.samples == i16.samples);
    i16.samples = {2.0f, -2.0f};  // out of range: clipped
    CHECK(decode_wav(encode_wav(i16)).samples == std::vector<float>({32767.0f / 32768.0f, -1.0f}));

    const std::vector<float> raw = {0.25f, -0.5f, 1.0f};
    CHECK(decode_raw_f32(encode_raw_f32(raw)).samples == raw);
    CHECK(rejects({1, 2, 3}, true));
}

static void test_wav_parsing() {
    AudioBuffer a;
    a.format = SampleFormat::Pcm16;
    a.samples = {0.5f, -0.5f};
    const std::vector<std::uint8_t> wav = encode_wav(a);  // RIFF(12) fmt(8+16) data(8+4)

    // An odd-sized unknown chunk (plus its pad byte) between fmt and data is skipped.
    const std::vector<std::uint8_t> list = {'L', 'I', 'S', 'T', 3, 0, 0, 0, 'a', 'b', 'c', 0};
    std::vector<std::uint8_t> with_list;
    with_list.reserve(wav.size() + list.size());
    with_list.insert(with_list.end(), wav.begin(), wav.begin() + 36);
    with_list.insert(with_list.end(), list.begin(), list.end());
    with_list.insert(with_list.end(), wav.begin() + 36, wav.end());
    with_list[4] = static_cast<std::uint8_t>(with_list[4] + list.size());
    CHECK(decode_wav(with_list).samples == a.samples);

    std::vector<std::uint8_t> bad = wav;
    bad[34] = 24;  // 24-bit PCM
    CHECK(rejects(bad));
    bad = wav;
    bad[20] = 2;  // ADPCM
    CHECK(rejects(bad));
    bad = wav;
    std::memcpy(&bad[0], "RIFX", 4);  // big-endian RIFF
    CHECK(rejects(bad));
    CHECK(rejects({wav.begin(), wav.end() - 1}));     // truncated data chunk
    CHECK(rejects({wav.begin(), wav.begin() + 36}));  // no data chunk
}

static void test_version_macros() {
    const std::string triple = std::to_string(AUDIOLAB_GAIN_VERSION_MAJOR) + "." +
                               std::to_string(AUDIOLAB_GAIN_VERSION_MINOR) + "." +
                               std::to_string(AUDIOLAB_GAIN_VERSION_PATCH);
    const std::string full = AUDIOLAB_GAIN_VERSION_STRING;
    // MAJOR.MINOR.PATCH, optionally followed by a pre-release (-rc.1) or build (+abc) suffix.
    CHECK(full.compare(0, triple.size(), triple) == 0);
    CHECK(full.size() == triple.size() || full[triple.size()] == '-' || full[triple.size()] == '+');
    CHECK(AUDIOLAB_GAIN_VERSION_BUILD >= 1);
    CHECK(triple == AUDIOLAB_PROJECT_VERSION);  // the header and CMake's project(VERSION) were bumped together
}

int main() {
    test_gain_math();
    test_limiters();
    test_wav_round_trip();
    test_wav_parsing();
    test_version_macros();
    if (g_failures != 0) {
        std::fprintf(stderr, "%d check(s) failed\n", g_failures);
        return 1;
    }
    std::printf("all tests passed\n");
    return 0;
}

#include "audiolab/wav.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <fstream>
#include <limits>

namespace audiolab {
namespace {

constexpr std::uint16_t kFormatPcm = 1;
constexpr std::uint16_t kFormatFloat = 3;
constexpr std::uint16_t kFormatExtensible = 0xFFFE;
// Bytes 2..15 of every KSDATAFORMAT_SUBTYPE_* GUID; bytes 0..1 hold the format tag.
constexpr std::uint8_t kGuidTail[14] = {0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x80,
                                        0x00, 0x00, 0xAA, 0x00, 0x38, 0x9B, 0x71};

// Little-endian integers of n bytes.
std::uint32_t get_le(const std::uint8_t* p, int n) {
    std::uint32_t v = 0;
    for (int i = n - 1; i >= 0; --i) v = v << 8 | p[i];
    return v;
}
std::uint16_t get_u16(const std::uint8_t* p) { return static_cast<std::uint16_t>(get_le(p, 2)); }
std::uint32_t get_u32(const std::uint8_t* p) { return get_le(p, 4); }

void put_le(std::vector<std::uint8_t>& out, std::uint32_t v, int n) {
    for (int i = 0; i < n; ++i) out.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
}
void put_u16(std::vector<std::uint8_t>& out, std::uint16_t v) { put_le(out, v, 2); }
void put_u32(std::vector<std::uint8_t>& out, std::uint32_t v) { put_le(out, v, 4); }
void put_tag(std::vector<std::uint8_t>& out, const char* tag) { out.insert(out.end(), tag, tag + 4); }

float get_f32(const std::uint8_t* p) {
    const std::uint32_t bits = get_u32(p);
    float f;
    std::memcpy(&f, &bits, sizeof f);
    return f;
}
void put_f32(std::vector<std::uint8_t>& out, float f) {
    std::uint32_t bits;
    std::memcpy(&bits, &f, sizeof bits);
    put_u32(out, bits);
}

float pcm16_to_float(std::uint16_t raw) { return static_cast<float>(static_cast<std::int16_t>(raw)) / 32768.0f; }

std::uint16_t float_to_pcm16(float x) {  // rounds and clips; NaN -> 0
    const float s = std::isnan(x) ? 0.0f : std::round(std::clamp(x, -1.0f, 32767.0f / 32768.0f) * 32768.0f);
    return static_cast<std::uint16_t>(static_cast<std::int16_t>(s));
}

bool has_tag(const std::uint8_t* p, const char* tag) { return std::memcmp(p, tag, 4) == 0; }

std::string io_message(const char* what) {
    const int err = errno;
    return err != 0 ? std::string(what) + ": " + std::strerror(err) : std::string(what);
}

}  // namespace

AudioBuffer decode_wav(const std::vector<std::uint8_t>& bytes) {
    if (bytes.size() < 12 || !has_tag(&bytes[0], "RIFF") || !has_tag(&bytes[8], "WAVE"))
        throw FormatError("not a RIFF/WAVE file");

    bool have_fmt = false;
    std::uint16_t tag = 0, channels = 0, block_align = 0, bits = 0;
    std::uint32_t sample_rate = 0;
    const std::uint8_t* data = nullptr;
    std::size_t data_size = 0;

    std::size_t pos = 12;
    while (pos + 8 <= bytes.size()) {
        const std::uint8_t* header = &bytes[pos];
        const std::size_t size = get_u32(header + 4);
        const std::size_t body = pos + 8;
        if (size > bytes.size() - body)
            throw FormatError("truncated '" + std::string(header, header + 4) + "' chunk");
        const std::uint8_t* p = &bytes[body];
        if (has_tag(header, "fmt ")) {
            if (size < 16) throw FormatError("fmt chunk too short");
            tag = get_u16(p);
            channels = get_u16(p + 2);
            sample_rate = get_u32(p + 4);
            block_align = get_u16(p + 12);
            bits = get_u16(p + 14);
            if (tag == kFormatExtensible) {
                if (size < 40 || std::memcmp(p + 26, kGuidTail, sizeof kGuidTail) != 0)
                    throw FormatError("malformed WAVE_FORMAT_EXTENSIBLE fmt chunk");
                tag = get_u16(p + 24);
            }
            have_fmt = true;
        } else if (has_tag(header, "data")) {
            data = p;
            data_size = size;
        }
        pos = body + size + (size & 1);  // chunks are padded to an even size
    }

    if (!have_fmt) throw FormatError("missing fmt chunk");
    if (data == nullptr) throw FormatError("missing data chunk");

    AudioBuffer audio;
    if (tag == kFormatPcm && bits == 16) {
        audio.format = SampleFormat::Pcm16;
    } else if (tag == kFormatFloat && bits == 32) {
        audio.format = SampleFormat::Float32;
    } else {
        const std::string kind = tag == kFormatPcm     ? "integer PCM"
                                 : tag == kFormatFloat ? "float"
                                                       : "format tag " + std::to_string(tag);
        throw FormatError("unsupported WAV format: " + std::to_string(bits) + "-bit " + kind +
                          " (supported: 16-bit integer PCM, 32-bit float)");
    }
    if (channels == 0 || sample_rate == 0) throw FormatError("fmt chunk has zero channels or sample rate");
    if (block_align != channels * (bits / 8)) throw FormatError("fmt chunk block align does not match");
    if (data_size % block_align != 0) throw FormatError("data chunk does not hold a whole number of frames");

    audio.channels = channels;
    audio.sample_rate = sample_rate;
    const std::size_t width = bits / 8;
    audio.samples.resize(data_size / width);
    for (std::size_t i = 0; i < audio.samples.size(); ++i) {
        const std::uint8_t* s = data + i * width;
        audio.samples[i] = audio.format == SampleFormat::Pcm16 ? pcm16_to_float(get_u16(s)) : get_f32(s);
    }
    return audio;
}

std::vector<std::uint8_t> encode_wav(const AudioBuffer& audio) {
    if (audio.channels == 0 || audio.samples.size() % audio.channels != 0)
        throw FormatError("sample count is not a multiple of the channel count");
    const bool pcm = audio.format == SampleFormat::Pcm16;
    const std::uint16_t width = pcm ? 2 : 4;
    const std::size_t data_size = audio.samples.size() * width;
    if (data_size > std::numeric_limits<std::uint32_t>::max() - 64u) throw FormatError("too much audio for a WAV file");
    const auto frames = static_cast<std::uint32_t>(audio.samples.size() / audio.channels);

    // PCM: fmt (16 bytes). Float: fmt with cbSize (18 bytes) + the fact chunk non-PCM formats require.
    const std::uint32_t fmt_size = pcm ? 16 : 18;
    const std::uint32_t fact_chunk = pcm ? 0 : 12;
    std::vector<std::uint8_t> out;
    out.reserve(44 + fact_chunk + data_size);
    put_tag(out, "RIFF");
    put_u32(out, static_cast<std::uint32_t>(4 + 8 + fmt_size + fact_chunk + 8 + data_size));
    put_tag(out, "WAVE");
    put_tag(out, "fmt ");
    put_u32(out, fmt_size);
    put_u16(out, pcm ? kFormatPcm : kFormatFloat);
    put_u16(out, audio.channels);
    put_u32(out, audio.sample_rate);
    put_u32(out, audio.sample_rate * audio.channels * width);
    put_u16(out, static_cast<std::uint16_t>(audio.channels * width));
    put_u16(out, static_cast<std::uint16_t>(width * 8));
    if (!pcm) {
        put_u16(out, 0);  // cbSize
        put_tag(out, "fact");
        put_u32(out, 4);
        put_u32(out, frames);
    }
    put_tag(out, "data");
    put_u32(out, static_cast<std::uint32_t>(data_size));
    for (float s : audio.samples) {
        if (pcm) put_u16(out, float_to_pcm16(s));
        else put_f32(out, s);
    }
    return out;
}

AudioBuffer decode_raw_f32(const std::vector<std::uint8_t>& bytes) {
    if (bytes.size() % 4 != 0) throw FormatError("raw float32 file size is not a multiple of 4 bytes");
    AudioBuffer audio;
    audio.samples.resize(bytes.size() / 4);
    for (std::size_t i = 0; i < audio.samples.size(); ++i) audio.samples[i] = get_f32(&bytes[i * 4]);
    return audio;
}

std::vector<std::uint8_t> encode_raw_f32(const std::vector<float>& samples) {
    std::vector<std::uint8_t> out;
    out.reserve(samples.size() * 4);
    for (float s : samples) put_f32(out, s);
    return out;
}

std::vector<std::uint8_t> read_file(const std::string& path) {
    errno = 0;
    std::ifstream in(path, std::ios::binary | std::ios::ate);
    if (!in) throw IoError(io_message("cannot open for reading"));
    const std::streamoff size = in.tellg();
    if (size < 0) throw IoError("cannot determine file size");
    std::vector<std::uint8_t> bytes(static_cast<std::size_t>(size));
    in.seekg(0);
    if (!in.read(reinterpret_cast<char*>(bytes.data()), static_cast<std::streamsize>(size)))
        throw IoError(io_message("read failed"));
    return bytes;
}

void write_file(const std::string& path, const std::vector<std::uint8_t>& bytes) {
    errno = 0;
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    if (!out) throw IoError(io_message("cannot open for writing"));
    out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
    out.close();
    if (!out) throw IoError(io_message("write failed"));
}

}  // namespace audiolab

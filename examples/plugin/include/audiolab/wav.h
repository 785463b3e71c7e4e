#ifndef AUDIOLAB_WAV_H
#define AUDIOLAB_WAV_H

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

namespace audiolab {

/// The input is not a supported or well-formed audio file.
class FormatError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

/// A file could not be read or written.
class IoError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

enum class SampleFormat { Pcm16, Float32 };

struct AudioBuffer {
    SampleFormat format = SampleFormat::Float32;  ///< the encoding on disk
    std::uint16_t channels = 1;
    std::uint32_t sample_rate = 48000;
    std::vector<float> samples;  ///< interleaved, full scale = [-1, 1]
};

/// Parses a RIFF/WAVE file: 16-bit integer PCM or 32-bit IEEE float (plain or WAVE_FORMAT_EXTENSIBLE).
/// Unknown chunks are skipped. Throws FormatError for anything else.
AudioBuffer decode_wav(const std::vector<std::uint8_t>& bytes);
/// Writes a canonical WAV file in `audio.format`. 16-bit output is rounded and clipped.
std::vector<std::uint8_t> encode_wav(const AudioBuffer& audio);

/// Raw float32 little-endian mono, no header.
AudioBuffer decode_raw_f32(const std::vector<std::uint8_t>& bytes);
std::vector<std::uint8_t> encode_raw_f32(const std::vector<float>& samples);

std::vector<std::uint8_t> read_file(const std::string& path);                       ///< throws IoError
void write_file(const std::string& path, const std::vector<std::uint8_t>& bytes);  ///< throws IoError

}  // namespace audiolab

#endif  // AUDIOLAB_WAV_H

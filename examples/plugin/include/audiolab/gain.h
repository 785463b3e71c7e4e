#ifndef AUDIOLAB_GAIN_H
#define AUDIOLAB_GAIN_H

#include <cstddef>

namespace audiolab {

/// Decibels to a linear amplitude factor (0 dB -> 1, -6.02 dB -> 0.5).
float db_to_linear(float db);
/// Linear amplitude to decibels; 0 or less gives -infinity.
float linear_to_db(float linear);

enum class LimiterMode {
    Hard,  ///< clamp to the ceiling
    Soft,  ///< unchanged below a knee, then a tanh curve that approaches the ceiling
};

struct GainSettings {
    float gain_db = 0.0f;     ///< gain applied before the limiter
    float ceiling_db = 0.0f;  ///< limiter ceiling in dBFS (1.0 == 0 dBFS)
    LimiterMode limiter = LimiterMode::Soft;
};

/// A stateless gain stage followed by a sample-wise limiter. NaN samples become 0.
class GainProcessor {
public:
    /// Where the soft limiter's knee sits, as a fraction of the ceiling (about -2.5 dB below it).
    static constexpr float kSoftKnee = 0.75f;

    explicit GainProcessor(const GainSettings& settings);

    float process_sample(float x) const;
    /// Processes `count` samples in place (any channel layout: the processing is per sample).
    void process(float* samples, std::size_t count) const;

    float gain() const { return gain_; }
    float ceiling() const { return ceiling_; }

private:
    float gain_;
    float ceiling_;
    float knee_;
    LimiterMode limiter_;
};

}  // namespace audiolab

#endif  // AUDIOLAB_GAIN_H

#include "audiolab/gain.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace audiolab {

float db_to_linear(float db) { return std::pow(10.0f, db / 20.0f); }

float linear_to_db(float linear) {
    if (!(linear > 0.0f)) return -std::numeric_limits<float>::infinity();
    return 20.0f * std::log10(linear);
}

GainProcessor::GainProcessor(const GainSettings& settings)
    : gain_(db_to_linear(settings.gain_db)),
      ceiling_(db_to_linear(settings.ceiling_db)),
      knee_(ceiling_ * kSoftKnee),
      limiter_(settings.limiter) {}

float GainProcessor::process_sample(float x) const {
    if (std::isnan(x)) return 0.0f;
    const float y = x * gain_;
    float level = std::fabs(y);
    if (limiter_ == LimiterMode::Hard) {
        level = std::min(level, ceiling_);
    } else if (level > knee_) {
        // Slope 1 at the knee (no kink), approaches the ceiling asymptotically.
        const float room = ceiling_ - knee_;
        level = std::min(ceiling_, knee_ + room * std::tanh((level - knee_) / room));
    }
    return std::copysign(level, y);
}

void GainProcessor::process(float* samples, std::size_t count) const {
    for (std::size_t i = 0; i < count; ++i) samples[i] = process_sample(samples[i]);
}

}  // namespace audiolab

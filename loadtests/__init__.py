"""Load generation and benchmarks: synthetic candidates that join by invite link over WHIP."""

"""Media layer: turns WebRTC tracks into 16 kHz PCM chunks and sampled video frames."""

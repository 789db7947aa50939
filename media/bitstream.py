"""A video frame's picture size read from its compressed bitstream, before any decoder allocates for it.

A decoder sizes its buffers from the stream's headers: a VP8 key frame or an H.264 sequence parameter set that
claims 16383x16383 makes libvpx or FFmpeg allocate about a gigabyte before it finds the data is garbage. Reading
the size here lets the receiver refuse such a frame without decoding it. Only key frames (VP8) and parameter sets
(H.264) carry a size; other frames return None and keep the size of the last one.
"""

from __future__ import annotations

VP8_START_CODE = b"\x9d\x01\x2a"
H264_SPS = 7
# profile_idc values whose SPS carries chroma format, bit depths and scaling matrices (ITU-T H.264 7.3.2.1.1)
H264_HIGH_PROFILES = {100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135}
MAX_SPS_BYTES = 256  # a real SPS is a few dozen bytes


def picture_size(codec: str, data: bytes) -> tuple[int, int] | None:
    """(width, height) that this frame sets, for VP8 and H.264 (`codec` as in SDP, any case); None if it sets none."""
    name = codec.lower()
    if name == "vp8":
        return vp8_keyframe_size(data)
    if name == "h264":
        return h264_sps_size(data)
    return None


def vp8_keyframe_size(data: bytes) -> tuple[int, int] | None:
    """RFC 6386 9.1: a key frame's 3-byte tag (bit 0 clear), start code, then 14-bit width and height."""
    if len(data) < 10 or data[0] & 1 or data[3:6] != VP8_START_CODE:
        return None
    width = int.from_bytes(data[6:8], "little") & 0x3FFF
    height = int.from_bytes(data[8:10], "little") & 0x3FFF
    return width, height


def h264_sps_size(data: bytes) -> tuple[int, int] | None:
    """The size a sequence parameter set in this Annex B access unit declares (before cropping), or None.

    An SPS that cannot be read to its size is reported as 0x0, which no limit accepts: a decoder would still try it.
    Runs on every video frame: only NAL unit headers are looked at, and only an SPS is copied out.
    """
    start = data.find(b"\x00\x00\x01")
    while start != -1 and start + 3 < len(data):
        begin = start + 3
        if data[begin] & 0x1F == H264_SPS:
            try:
                return _sps_size(_unescape(data[begin + 1 : begin + 1 + MAX_SPS_BYTES]))
            except IndexError:
                return 0, 0
        start = data.find(b"\x00\x00\x01", begin)
    return None


def _unescape(payload: bytes) -> bytes:
    """Remove emulation-prevention bytes (00 00 03 -> 00 00)."""
    return payload.replace(b"\x00\x00\x03", b"\x00\x00")


class _Bits:
    def __init__(self, data: bytes) -> None:
        self._data = data
        self._pos = 0

    def bit(self) -> int:
        byte = self._data[self._pos >> 3]  # IndexError past the end
        value = (byte >> (7 - (self._pos & 7))) & 1
        self._pos += 1
        return value

    def bits(self, count: int) -> int:
        value = 0
        for _ in range(count):
            value = (value << 1) | self.bit()
        return value

    def ue(self) -> int:
        zeros = 0
        while self.bit() == 0:
            zeros += 1
            if zeros > 31:
                raise IndexError("exp-Golomb code longer than 32 bits")
        return (1 << zeros) - 1 + self.bits(zeros)

    def se(self) -> int:
        code = self.ue()
        return (code + 1) // 2 if code & 1 else -(code // 2)


def _sps_size(rbsp: bytes) -> tuple[int, int]:
    bits = _Bits(rbsp)
    profile = bits.bits(8)
    bits.bits(16)  # constraint flags, level
    bits.ue()  # seq_parameter_set_id
    if profile in H264_HIGH_PROFILES:
        if bits.ue() == 3:  # chroma_format_idc 4:4:4
            bits.bit()  # separate_colour_plane_flag
        bits.ue()  # bit_depth_luma_minus8
        bits.ue()  # bit_depth_chroma_minus8
        bits.bit()  # qpprime_y_zero_transform_bypass_flag
        if bits.bit():  # seq_scaling_matrix_present_flag
            for index in range(8):
                if bits.bit():
                    _skip_scaling_list(bits, 16 if index < 6 else 64)
    bits.ue()  # log2_max_frame_num_minus4
    order_type = bits.ue()
    if order_type == 0:
        bits.ue()  # log2_max_pic_order_cnt_lsb_minus4
    elif order_type == 1:
        bits.bit()  # delta_pic_order_always_zero_flag
        bits.se()  # offset_for_non_ref_pic
        bits.se()  # offset_for_top_to_bottom_field
        for _ in range(min(bits.ue(), 255)):
            bits.se()
    bits.ue()  # max_num_ref_frames
    bits.bit()  # gaps_in_frame_num_value_allowed_flag
    width_mbs = bits.ue() + 1
    height_units = bits.ue() + 1
    frame_mbs_only = bits.bit()
    return width_mbs * 16, height_units * 16 * (2 - frame_mbs_only)


def _skip_scaling_list(bits: _Bits, size: int) -> None:
    last = next_scale = 8
    for _ in range(size):
        if next_scale:
            next_scale = (last + bits.se() + 256) % 256
        last = next_scale or last

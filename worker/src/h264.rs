//! A minimal H.264 encoder: every frame is an IDR picture whose macroblocks
//! are all `I_PCM` (raw 8-bit 4:2:0 samples, no prediction, no transform).
//!
//! That is the smallest bitstream a standard decoder — browsers included —
//! plays: Constrained Baseline profile, CAVLC, one slice per frame, frame
//! cropping for sizes that are not multiples of 16. Files are large
//! (1.5 bytes per pixel per frame) but the placeholders are tiny. The
//! bitstream parts are returned as NAL units without start codes, ready for
//! an MP4 `avcC` box and length-prefixed samples.

use crate::render::Picture;

/// `profile_idc` 66 (Baseline) with constraint_set0/1 (Constrained Baseline).
pub const PROFILE_IDC: u8 = 66;
pub const CONSTRAINT_FLAGS: u8 = 0b1100_0000;
/// Level 4.0: frames up to 8192 macroblocks (2048×1024).
pub const LEVEL_IDC: u8 = 40;

const NAL_SPS: u8 = 0x67; // nal_ref_idc 3, type 7
const NAL_PPS: u8 = 0x68; // nal_ref_idc 3, type 8
const NAL_IDR: u8 = 0x65; // nal_ref_idc 3, type 5
const MB_TYPE_I_PCM: u32 = 25;
const LOG2_MAX_FRAME_NUM: u32 = 4;

/// Sequence and picture parameter sets for `width` × `height` (both even).
pub fn parameter_sets(width: u32, height: u32) -> (Vec<u8>, Vec<u8>) {
    let (mbs_wide, mbs_high) = (width.div_ceil(16), height.div_ceil(16));
    let mut sps = BitWriter::default();
    sps.bits(u32::from(PROFILE_IDC), 8);
    sps.bits(u32::from(CONSTRAINT_FLAGS), 8);
    sps.bits(u32::from(LEVEL_IDC), 8);
    sps.ue(0); // seq_parameter_set_id
    sps.ue(LOG2_MAX_FRAME_NUM - 4);
    sps.ue(2); // pic_order_cnt_type: output order = decoding order
    sps.ue(1); // max_num_ref_frames: IDR pictures are reference pictures
    sps.bit(false); // gaps_in_frame_num_value_allowed_flag
    sps.ue(mbs_wide - 1);
    sps.ue(mbs_high - 1);
    sps.bit(true); // frame_mbs_only_flag
    sps.bit(true); // direct_8x8_inference_flag
    let (crop_right, crop_bottom) = ((mbs_wide * 16 - width) / 2, (mbs_high * 16 - height) / 2);
    let cropped = crop_right > 0 || crop_bottom > 0;
    sps.bit(cropped);
    if cropped {
        sps.ue(0);
        sps.ue(crop_right);
        sps.ue(0);
        sps.ue(crop_bottom);
    }
    sps.bit(false); // vui_parameters_present_flag

    let mut pps = BitWriter::default();
    pps.ue(0); // pic_parameter_set_id
    pps.ue(0); // seq_parameter_set_id
    pps.bit(false); // entropy_coding_mode_flag: CAVLC
    pps.bit(false); // bottom_field_pic_order_in_frame_present_flag
    pps.ue(0); // num_slice_groups_minus1
    pps.ue(0); // num_ref_idx_l0_default_active_minus1
    pps.ue(0); // num_ref_idx_l1_default_active_minus1
    pps.bit(false); // weighted_pred_flag
    pps.bits(0, 2); // weighted_bipred_idc
    pps.se(0); // pic_init_qp_minus26
    pps.se(0); // pic_init_qs_minus26
    pps.se(0); // chroma_qp_index_offset
    pps.bit(true); // deblocking_filter_control_present_flag
    pps.bit(false); // constrained_intra_pred_flag
    pps.bit(false); // redundant_pic_cnt_present_flag

    (nal(NAL_SPS, sps.finish()), nal(NAL_PPS, pps.finish()))
}

/// One frame as an IDR slice NAL unit. `index` alternates `idr_pic_id`, which
/// consecutive IDR pictures must not share.
pub fn idr_frame(picture: &Picture, index: u32) -> Vec<u8> {
    let (mbs_wide, mbs_high) = (picture.width.div_ceil(16), picture.height.div_ceil(16));
    let mut slice = BitWriter::default();
    slice.ue(0); // first_mb_in_slice
    slice.ue(7); // slice_type: I, and every slice of the picture is I
    slice.ue(0); // pic_parameter_set_id
    slice.bits(0, LOG2_MAX_FRAME_NUM); // frame_num
    slice.ue(index % 2); // idr_pic_id
    slice.bit(false); // no_output_of_prior_pics_flag
    slice.bit(false); // long_term_reference_flag
    slice.se(0); // slice_qp_delta
    slice.ue(1); // disable_deblocking_filter_idc: off, the samples are exact
    for mb_y in 0..mbs_high {
        for mb_x in 0..mbs_wide {
            slice.ue(MB_TYPE_I_PCM);
            slice.align_zero();
            write_pcm_macroblock(&mut slice, picture, mb_x * 16, mb_y * 16);
        }
    }
    nal(NAL_IDR, slice.finish())
}

/// 256 luma samples then 64 Cb and 64 Cr (2×2 averages), BT.601 limited
/// range, edge pixels repeated into the padding. Samples are kept ≥ 1 since
/// early H.264 editions forbid 0 in PCM samples.
fn write_pcm_macroblock(out: &mut BitWriter, picture: &Picture, left: u32, top: u32) {
    let sample = |x: u32, y: u32| picture.pixel(x.min(picture.width - 1), y.min(picture.height - 1)).map(i32::from);
    for y in top..top + 16 {
        for x in left..left + 16 {
            let [r, g, b] = sample(x, y);
            out.byte(pcm(((66 * r + 129 * g + 25 * b + 128) >> 8) + 16));
        }
    }
    for (cr, cg, cb) in [(-38, -74, 112), (112, -94, -18)] {
        for y in (top..top + 16).step_by(2) {
            for x in (left..left + 16).step_by(2) {
                let sum = [sample(x, y), sample(x + 1, y), sample(x, y + 1), sample(x + 1, y + 1)]
                    .iter()
                    .fold([0, 0, 0], |acc, px| [acc[0] + px[0], acc[1] + px[1], acc[2] + px[2]]);
                let [r, g, b] = sum.map(|channel| (channel + 2) / 4);
                out.byte(pcm(((cr * r + cg * g + cb * b + 128) >> 8) + 128));
            }
        }
    }
}

fn pcm(value: i32) -> u8 {
    value.clamp(1, 255) as u8
}

/// A NAL unit: header byte + RBSP with emulation prevention bytes.
fn nal(header: u8, rbsp: Vec<u8>) -> Vec<u8> {
    let mut out = Vec::with_capacity(rbsp.len() + rbsp.len() / 64 + 1);
    out.push(header);
    let mut zeros = 0;
    for byte in rbsp {
        if zeros >= 2 && byte <= 3 {
            out.push(3);
            zeros = 0;
        }
        out.push(byte);
        zeros = if byte == 0 { zeros + 1 } else { 0 };
    }
    out
}

/// MSB-first bit writer with Exp-Golomb codes.
#[derive(Default)]
struct BitWriter {
    bytes: Vec<u8>,
    current: u8,
    used: u32,
}

impl BitWriter {
    fn bit(&mut self, bit: bool) {
        self.current = (self.current << 1) | u8::from(bit);
        self.used += 1;
        if self.used == 8 {
            self.bytes.push(self.current);
            self.current = 0;
            self.used = 0;
        }
    }

    fn bits(&mut self, value: u32, count: u32) {
        for shift in (0..count).rev() {
            self.bit((value >> shift) & 1 == 1);
        }
    }

    /// PCM samples follow `align_zero`, so they take the byte-aligned path.
    fn byte(&mut self, value: u8) {
        if self.used == 0 {
            self.bytes.push(value);
        } else {
            self.bits(u32::from(value), 8);
        }
    }

    fn ue(&mut self, value: u32) {
        let code = u64::from(value) + 1;
        let length = 64 - code.leading_zeros();
        for _ in 1..length {
            self.bit(false);
        }
        for shift in (0..length).rev() {
            self.bit((code >> shift) & 1 == 1);
        }
    }

    fn se(&mut self, value: i32) {
        let mapped = if value > 0 { 2 * value.unsigned_abs() - 1 } else { 2 * value.unsigned_abs() };
        self.ue(mapped);
    }

    fn align_zero(&mut self) {
        while self.used != 0 {
            self.bit(false);
        }
    }

    /// rbsp_trailing_bits: a stop bit, then zeros to the byte boundary.
    fn finish(mut self) -> Vec<u8> {
        self.bit(true);
        self.align_zero();
        self.bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::render;

    /// Exp-Golomb reader over an RBSP, for checking what the writer wrote.
    struct BitReader<'a> {
        bytes: &'a [u8],
        position: usize,
    }

    impl BitReader<'_> {
        fn bit(&mut self) -> u32 {
            let bit = (self.bytes[self.position / 8] >> (7 - self.position % 8)) & 1;
            self.position += 1;
            u32::from(bit)
        }

        fn bits(&mut self, count: u32) -> u32 {
            (0..count).fold(0, |value, _| (value << 1) | self.bit())
        }

        fn ue(&mut self) -> u32 {
            let mut zeros = 0;
            while self.bit() == 0 {
                zeros += 1;
            }
            (1 << zeros) - 1 + self.bits(zeros)
        }
    }

    fn unescape(nal: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut zeros = 0;
        for &byte in &nal[1..] {
            if zeros >= 2 && byte == 3 {
                zeros = 0;
                continue;
            }
            out.push(byte);
            zeros = if byte == 0 { zeros + 1 } else { 0 };
        }
        out
    }

    #[test]
    fn sps_describes_the_cropped_frame_size() {
        let (sps, pps) = parameter_sets(40, 18);
        assert_eq!(sps[0], 0x67);
        assert_eq!(pps[0], 0x68);
        let rbsp = unescape(&sps);
        let mut reader = BitReader { bytes: &rbsp, position: 0 };
        assert_eq!([reader.bits(8), reader.bits(8), reader.bits(8)], [66, 0xC0, 40]);
        assert_eq!([reader.ue(), reader.ue(), reader.ue(), reader.ue()], [0, 0, 2, 1]);
        assert_eq!(reader.bit(), 0);
        assert_eq!([reader.ue() + 1, reader.ue() + 1], [3, 2], "macroblocks wide and high");
        assert_eq!([reader.bit(), reader.bit(), reader.bit()], [1, 1, 1]);
        assert_eq!([reader.ue(), reader.ue(), reader.ue(), reader.ue()], [0, 4, 0, 7], "crop in 2-pixel units");
    }

    #[test]
    fn idr_slice_has_one_pcm_macroblock_per_16x16_block() {
        let picture = render("p", 1, None, 32, 16, 0);
        let frame = idr_frame(&picture, 0);
        assert_eq!(frame[0], 0x65);
        let rbsp = unescape(&frame);
        let mut reader = BitReader { bytes: &rbsp, position: 0 };
        assert_eq!([reader.ue(), reader.ue(), reader.ue(), reader.bits(4), reader.ue()], [0, 7, 0, 0, 0]);
        assert_eq!([reader.bit(), reader.bit()], [0, 0]);
        assert_eq!([reader.ue(), reader.ue()], [0, 1], "qp delta 0, deblocking off");
        for _ in 0..2 {
            assert_eq!(reader.ue(), 25, "mb_type I_PCM");
            reader.position = reader.position.div_ceil(8) * 8;
            reader.position += 384 * 8;
        }
        assert_eq!(reader.bit(), 1, "stop bit");
        assert_eq!(reader.position.div_ceil(8), rbsp.len());
    }

    #[test]
    fn no_start_code_can_appear_inside_a_nal_unit() {
        let dark = Picture { width: 16, height: 16, rgb: vec![0; 16 * 16 * 3] };
        for nal in [idr_frame(&dark, 1), parameter_sets(16, 16).0] {
            assert!(!nal.windows(3).any(|w| w[0] == 0 && w[1] == 0 && w[2] <= 2), "{nal:?}");
        }
    }
}

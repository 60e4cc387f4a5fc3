//! A hand-assembled MP4 (ISO/IEC 14496-12/-15) holding one H.264 video track.
//!
//! Layout, "fast start" (index before data): `ftyp` (isom, avc1) · `moov`
//! (`mvhd`, one `trak` with `tkhd`, `mdia` → `mdhd`, `hdlr` vide, `minf` →
//! `vmhd`, `dinf`/`dref`, `stbl` → `stsd`/`avc1`/`avcC`, `stts`, `stsc`,
//! `stsz`, `stco`) · `mdat` (every frame a 4-byte-length-prefixed IDR NAL,
//! all in one chunk). No `stss`: every sample is a sync sample. That is the
//! whole of what a player needs; the encoder is [`crate::h264`].

use crate::h264;
use crate::render::Picture;

/// Build the MP4 of `frames` (all `width` × `height`) at `fps` frames per
/// second.
pub fn encode(frames: &[Picture], width: u32, height: u32, fps: u32) -> Vec<u8> {
    let (sps, pps) = h264::parameter_sets(width, height);
    let samples: Vec<Vec<u8>> = frames
        .iter()
        .zip(0..)
        .map(|(frame, index)| {
            let nal = h264::idr_frame(frame, index);
            let mut sample = Vec::with_capacity(nal.len() + 4);
            sample.extend_from_slice(&(nal.len() as u32).to_be_bytes());
            sample.extend_from_slice(&nal);
            sample
        })
        .collect();
    let track = Track { width, height, fps, sample_sizes: samples.iter().map(|s| s.len() as u32).collect(), sps, pps };

    let ftyp = boxed(b"ftyp", &[b"isom".as_slice(), &0x200u32.to_be_bytes(), b"isom", b"iso2", b"avc1", b"mp41"].concat());
    // The chunk offset is a fixed-width field, so the moov size is known
    // before the offset it points past.
    let moov_size = track.moov(0).len();
    let data_offset = (ftyp.len() + moov_size + 8) as u32;
    let moov = track.moov(data_offset);
    let mdat = boxed(b"mdat", &samples.concat());
    [ftyp, moov, mdat].concat()
}

/// Media timescale ticks per frame; the timescale is `fps` × this.
const TICKS_PER_FRAME: u32 = 1000;
/// Movie timescale: milliseconds.
const MOVIE_TIMESCALE: u32 = 1000;

struct Track {
    width: u32,
    height: u32,
    fps: u32,
    sample_sizes: Vec<u32>,
    sps: Vec<u8>,
    pps: Vec<u8>,
}

impl Track {
    fn frames(&self) -> u32 {
        self.sample_sizes.len() as u32
    }

    fn moov(&self, data_offset: u32) -> Vec<u8> {
        let duration_ms = self.frames() * MOVIE_TIMESCALE / self.fps.max(1);
        let mvhd = full_box(b"mvhd", 0, 0, &[
            &0u32.to_be_bytes()[..], // creation_time
            &0u32.to_be_bytes(),     // modification_time
            &MOVIE_TIMESCALE.to_be_bytes(),
            &duration_ms.to_be_bytes(),
            &0x0001_0000u32.to_be_bytes(), // rate 1.0
            &0x0100u16.to_be_bytes(),      // volume 1.0
            &[0; 10],                      // reserved
            &MATRIX,
            &[0; 24], // pre_defined
            &2u32.to_be_bytes(), // next_track_ID
        ].concat());
        let tkhd = full_box(b"tkhd", 0, 3, &[
            &0u32.to_be_bytes()[..],
            &0u32.to_be_bytes(),
            &1u32.to_be_bytes(), // track_ID
            &[0; 4],
            &duration_ms.to_be_bytes(),
            &[0; 8],
            &0u16.to_be_bytes(), // layer
            &0u16.to_be_bytes(), // alternate_group
            &0u16.to_be_bytes(), // volume: video
            &[0; 2],
            &MATRIX,
            &(self.width << 16).to_be_bytes(),
            &(self.height << 16).to_be_bytes(),
        ].concat());
        let timescale = self.fps.max(1) * TICKS_PER_FRAME;
        let mdhd = full_box(b"mdhd", 0, 0, &[
            &0u32.to_be_bytes()[..],
            &0u32.to_be_bytes(),
            &timescale.to_be_bytes(),
            &(self.frames() * TICKS_PER_FRAME).to_be_bytes(),
            &0x55C4u16.to_be_bytes(), // language "und"
            &0u16.to_be_bytes(),
        ].concat());
        let hdlr = full_box(b"hdlr", 0, 0, &[&[0u8; 4][..], b"vide", &[0; 12], b"VideoHandler\0"].concat());
        let vmhd = full_box(b"vmhd", 0, 1, &[0; 8]);
        let dref = full_box(b"dref", 0, 0, &[&1u32.to_be_bytes()[..], &full_box(b"url ", 0, 1, &[])].concat());
        let dinf = boxed(b"dinf", &dref);
        let stbl = boxed(b"stbl", &[self.stsd(), self.stts(), self.stsc(), self.stsz(), stco(data_offset)].concat());
        let minf = boxed(b"minf", &[vmhd, dinf, stbl].concat());
        let mdia = boxed(b"mdia", &[mdhd, hdlr, minf].concat());
        let trak = boxed(b"trak", &[tkhd, mdia].concat());
        boxed(b"moov", &[mvhd, trak].concat())
    }

    fn stsd(&self) -> Vec<u8> {
        let avcc = boxed(b"avcC", &[
            &[1, h264::PROFILE_IDC, h264::CONSTRAINT_FLAGS, h264::LEVEL_IDC][..],
            &[0xFF], // lengthSizeMinusOne = 3
            &[0xE1], // one SPS
            &(self.sps.len() as u16).to_be_bytes(),
            &self.sps,
            &[1], // one PPS
            &(self.pps.len() as u16).to_be_bytes(),
            &self.pps,
        ].concat());
        let mut compressor = [0u8; 32];
        let name = b"ourvidz I_PCM";
        compressor[0] = name.len() as u8;
        compressor[1..=name.len()].copy_from_slice(name);
        let avc1 = boxed(b"avc1", &[
            &[0u8; 6][..],        // reserved
            &1u16.to_be_bytes(), // data_reference_index
            &[0; 16],            // pre_defined, reserved
            &(self.width as u16).to_be_bytes(),
            &(self.height as u16).to_be_bytes(),
            &0x0048_0000u32.to_be_bytes(), // 72 dpi
            &0x0048_0000u32.to_be_bytes(),
            &[0; 4],
            &1u16.to_be_bytes(), // frame_count
            &compressor,
            &0x0018u16.to_be_bytes(), // depth
            &(-1i16).to_be_bytes(),
            &avcc,
        ].concat());
        full_box(b"stsd", 0, 0, &[&1u32.to_be_bytes()[..], &avc1].concat())
    }

    fn stts(&self) -> Vec<u8> {
        full_box(b"stts", 0, 0, &[1u32, self.frames(), TICKS_PER_FRAME].map(u32::to_be_bytes).concat())
    }

    fn stsc(&self) -> Vec<u8> {
        full_box(b"stsc", 0, 0, &[1u32, 1, self.frames(), 1].map(u32::to_be_bytes).concat())
    }

    fn stsz(&self) -> Vec<u8> {
        let header = [0u32, self.frames()].map(u32::to_be_bytes).concat();
        let sizes: Vec<u8> = self.sample_sizes.iter().flat_map(|size| size.to_be_bytes()).collect();
        full_box(b"stsz", 0, 0, &[header, sizes].concat())
    }
}

fn stco(data_offset: u32) -> Vec<u8> {
    full_box(b"stco", 0, 0, &[1u32, data_offset].map(u32::to_be_bytes).concat())
}

/// The identity transformation matrix of `mvhd`/`tkhd`.
const MATRIX: [u8; 36] = {
    let mut matrix = [0u8; 36];
    matrix[1] = 1; // a = 1.0 (16.16)
    matrix[17] = 1; // d = 1.0 (16.16)
    matrix[32] = 0x40; // w = 1.0 (2.30)
    matrix
};

fn boxed(kind: &[u8; 4], payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + 8);
    out.extend_from_slice(&((payload.len() + 8) as u32).to_be_bytes());
    out.extend_from_slice(kind);
    out.extend_from_slice(payload);
    out
}

fn full_box(kind: &[u8; 4], version: u8, flags: u32, payload: &[u8]) -> Vec<u8> {
    let header = (u32::from(version) << 24) | (flags & 0x00FF_FFFF);
    boxed(kind, &[&header.to_be_bytes()[..], payload].concat())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::render;

    /// `(type, payload range)` of the boxes in `bytes[range]`, checking that
    /// they tile the range exactly.
    fn children(bytes: &[u8], range: std::ops::Range<usize>) -> Vec<(String, std::ops::Range<usize>)> {
        let mut out = Vec::new();
        let mut at = range.start;
        while at < range.end {
            let size = u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
            assert!(size >= 8 && at + size <= range.end, "box at {at} overflows its parent");
            out.push((String::from_utf8(bytes[at + 4..at + 8].to_vec()).unwrap(), at + 8..at + size));
            at += size;
        }
        assert_eq!(at, range.end);
        out
    }

    fn child(bytes: &[u8], range: std::ops::Range<usize>, kind: &str) -> std::ops::Range<usize> {
        children(bytes, range).into_iter().find(|(name, _)| name == kind).unwrap_or_else(|| panic!("no {kind}")).1
    }

    fn u32_at(bytes: &[u8], at: usize) -> u32 {
        u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap())
    }

    fn movie() -> Vec<u8> {
        let frames: Vec<_> = (0..3).map(|frame| render("waves", 9, None, 40, 18, frame)).collect();
        encode(&frames, 40, 18, 8)
    }

    #[test]
    fn top_level_is_ftyp_moov_mdat_covering_the_file() {
        let file = movie();
        let kinds: Vec<String> = children(&file, 0..file.len()).into_iter().map(|(kind, _)| kind).collect();
        assert_eq!(kinds, ["ftyp", "moov", "mdat"]);
        assert_eq!(&file[8..12], b"isom");
    }

    #[test]
    fn sample_table_points_at_every_frame_in_mdat() {
        let file = movie();
        let moov = child(&file, 0..file.len(), "moov");
        let mdat = child(&file, 0..file.len(), "mdat");
        let trak = child(&file, moov, "trak");
        let mdia = child(&file, trak, "mdia");
        let minf = child(&file, mdia, "minf");
        let stbl = child(&file, minf, "stbl");
        let stsz = child(&file, stbl.clone(), "stsz");
        let stco = child(&file, stbl.clone(), "stco");
        assert_eq!(u32_at(&file, stsz.start + 8), 3, "sample count");
        assert_eq!(u32_at(&file, stco.start + 8) as usize, mdat.start, "chunk offset is the mdat payload");
        let mut at = mdat.start;
        for sample in 0..3 {
            let size = u32_at(&file, stsz.start + 12 + 4 * sample) as usize;
            assert_eq!(u32_at(&file, at) as usize + 4, size, "length prefix of sample {sample}");
            assert_eq!(file[at + 4], 0x65, "IDR slice");
            at += size;
        }
        assert_eq!(at, mdat.end);
    }

    #[test]
    fn sample_entry_is_avc1_with_the_parameter_sets() {
        let file = movie();
        let moov = child(&file, 0..file.len(), "moov");
        let stbl = child(&file, child(&file, child(&file, child(&file, moov, "trak"), "mdia"), "minf"), "stbl");
        let stsd = child(&file, stbl.clone(), "stsd");
        let entries = children(&file, stsd.start + 8..stsd.end);
        assert_eq!(entries[0].0, "avc1");
        let avc1 = entries[0].1.clone();
        assert_eq!(u16::from_be_bytes([file[avc1.start + 24], file[avc1.start + 25]]), 40);
        assert_eq!(u16::from_be_bytes([file[avc1.start + 26], file[avc1.start + 27]]), 18);
        let avcc = child(&file, avc1.start + 78..avc1.end, "avcC");
        assert_eq!(&file[avcc.start..avcc.start + 6], &[1, 66, 0xC0, 40, 0xFF, 0xE1]);
        let sps_length = u16::from_be_bytes([file[avcc.start + 6], file[avcc.start + 7]]) as usize;
        assert_eq!(file[avcc.start + 8], 0x67);
        assert_eq!(file[avcc.start + 8 + sps_length], 1, "one PPS");
        assert_eq!(file[avcc.start + 11 + sps_length], 0x68);
        for kind in ["stts", "stsc", "stco"] {
            child(&file, stbl.clone(), kind);
        }
    }

    #[test]
    fn duration_follows_frames_and_fps() {
        let file = movie();
        let moov = child(&file, 0..file.len(), "moov");
        let mvhd = child(&file, moov, "mvhd");
        assert_eq!(u32_at(&file, mvhd.start + 12), 1000, "timescale");
        assert_eq!(u32_at(&file, mvhd.start + 16), 375, "3 frames at 8 fps");
    }
}

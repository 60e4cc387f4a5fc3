//! Deterministic placeholder pictures: what the reference worker "generates".
//!
//! A picture is a function of (prompt, seed, frame) only — two workers, or a
//! retry of the same job, produce byte-identical files, which is what makes
//! the upload-with-upsert retry story testable. The look is a two-colour
//! gradient at a seed-chosen angle with moving diagonal bands, so frames of a
//! video differ and different prompts are told apart at a glance. Integer
//! arithmetic only, so the bytes do not depend on the platform's floats.

/// `settings.aspect_ratio` of a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AspectRatio {
    Landscape,
    Square,
    Portrait,
}

impl AspectRatio {
    /// `"16:9"`, `"1:1"`, `"9:16"`; anything else (or nothing) is square,
    /// the generator's default.
    pub fn from_setting(value: Option<&str>) -> AspectRatio {
        match value {
            Some("16:9") => AspectRatio::Landscape,
            Some("9:16") => AspectRatio::Portrait,
            _ => AspectRatio::Square,
        }
    }

    /// Width and height for a long edge of `long_edge` pixels, both even (so
    /// 4:2:0 video needs no odd-size special case) and at least 2.
    pub fn dimensions(self, long_edge: u32) -> (u32, u32) {
        let long = even(long_edge);
        let short = even((long_edge * 9 + 8) / 16);
        match self {
            AspectRatio::Landscape => (long, short),
            AspectRatio::Square => (long, long),
            AspectRatio::Portrait => (short, long),
        }
    }
}

fn even(value: u32) -> u32 {
    (value & !1).max(2)
}

/// An RGB picture, 3 bytes per pixel, rows top to bottom.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Picture {
    pub width: u32,
    pub height: u32,
    pub rgb: Vec<u8>,
}

impl Picture {
    pub fn pixel(&self, x: u32, y: u32) -> [u8; 3] {
        let i = ((y * self.width + x) * 3) as usize;
        [self.rgb[i], self.rgb[i + 1], self.rgb[i + 2]]
    }
}

/// What a reference image contributes to a placeholder: a hash of its bytes.
pub fn fingerprint(bytes: &[u8]) -> u64 {
    fnv1a(bytes)
}

/// The placeholder for `prompt`, `seed` and the reference's [`fingerprint`],
/// frame `frame` (0 for images): a real model conditions on its reference,
/// the placeholder's colours do.
pub fn render(prompt: &str, seed: i64, reference: Option<u64>, width: u32, height: u32, frame: u32) -> Picture {
    let mut state = fnv1a(prompt.as_bytes())
        ^ (seed as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)
        ^ reference.map_or(0, |bits| bits.rotate_left(17));
    let mut next = || splitmix(&mut state);
    let from = color(next());
    let to = color(next());
    let direction = next();
    let (dx, dy) = (i64::from((direction & 0xff) as u8) - 128, i64::from(((direction >> 8) & 0xff) as u8) - 128);
    let band = 4 + (next() % 12) as i64;
    let span = (dx.abs() * i64::from(width) + dy.abs() * i64::from(height)).max(1);
    let offset = (dx.min(0) * i64::from(width) + dy.min(0) * i64::from(height)).abs();

    let mut rgb = Vec::with_capacity((width * height * 3) as usize);
    for y in 0..i64::from(height) {
        for x in 0..i64::from(width) {
            let t = (dx * x + dy * y + offset) * 256 / span;
            let stripe = ((x + y + i64::from(frame) * 2) / band) % 2 == 0;
            for channel in 0..3 {
                let value = (i64::from(from[channel]) * (256 - t) + i64::from(to[channel]) * t) / 256;
                let value = if stripe { value * 7 / 8 } else { value };
                rgb.push(value.clamp(0, 255) as u8);
            }
        }
    }
    Picture { width, height, rgb }
}

fn color(bits: u64) -> [u8; 3] {
    [(bits & 0xff) as u8, ((bits >> 8) & 0xff) as u8, ((bits >> 16) & 0xff) as u8]
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, byte| (hash ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3))
}

fn splitmix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The picture as a PNG (RGB, 8 bits per channel).
pub fn encode_png(picture: &Picture) -> Result<Vec<u8>, png::EncodingError> {
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, picture.width, picture.height);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header()?;
    writer.write_image_data(&picture.rgb)?;
    writer.finish()?;
    Ok(out)
}

/// The picture as a baseline JPEG (video thumbnails are `.jpg`).
pub fn encode_jpeg(picture: &Picture) -> Result<Vec<u8>, jpeg_encoder::EncodingError> {
    let mut out = Vec::new();
    let width = u16::try_from(picture.width).unwrap_or(u16::MAX);
    let height = u16::try_from(picture.height).unwrap_or(u16::MAX);
    jpeg_encoder::Encoder::new(&mut out, 85).encode(&picture.rgb, width, height, jpeg_encoder::ColorType::Rgb)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rendering_is_deterministic() {
        assert_eq!(render("a lighthouse", 42, None, 32, 18, 0), render("a lighthouse", 42, None, 32, 18, 0));
        let png = encode_png(&render("a lighthouse", 42, None, 32, 18, 0)).unwrap();
        assert_eq!(png, encode_png(&render("a lighthouse", 42, None, 32, 18, 0)).unwrap());
    }

    #[test]
    fn prompt_seed_and_frame_each_change_the_picture() {
        let base = render("a lighthouse", 42, None, 32, 32, 0);
        assert_ne!(base, render("a lighthouse!", 42, None, 32, 32, 0));
        assert_ne!(base, render("a lighthouse", 43, None, 32, 32, 0));
        assert_ne!(base, render("a lighthouse", 42, None, 32, 32, 1));
        assert_ne!(base, render("a lighthouse", 42, Some(fingerprint(b"a reference")), 32, 32, 0));
        assert_ne!(
            render("a lighthouse", 42, Some(fingerprint(b"a reference")), 32, 32, 0),
            render("a lighthouse", 42, Some(fingerprint(b"another reference")), 32, 32, 0)
        );
    }

    #[test]
    fn aspect_ratio_sets_even_dimensions() {
        assert_eq!(AspectRatio::from_setting(Some("16:9")).dimensions(512), (512, 288));
        assert_eq!(AspectRatio::from_setting(Some("9:16")).dimensions(512), (288, 512));
        assert_eq!(AspectRatio::from_setting(Some("1:1")).dimensions(512), (512, 512));
        assert_eq!(AspectRatio::from_setting(None).dimensions(64), (64, 64));
        assert_eq!(AspectRatio::from_setting(Some("4:3")).dimensions(64), (64, 64));
        assert_eq!(AspectRatio::Landscape.dimensions(33), (32, 18));
        assert_eq!(AspectRatio::Landscape.dimensions(1), (2, 2));
    }

    #[test]
    fn png_decodes_to_the_rendered_pixels() {
        let picture = render("waves", 7, None, 32, 18, 0);
        let png = encode_png(&picture).unwrap();
        let mut reader = png::Decoder::new(std::io::Cursor::new(png)).read_info().unwrap();
        let mut pixels = vec![0; reader.output_buffer_size().unwrap()];
        let info = reader.next_frame(&mut pixels).unwrap();
        assert_eq!((info.width, info.height, info.color_type), (32, 18, png::ColorType::Rgb));
        assert_eq!(&pixels[..info.buffer_size()], picture.rgb.as_slice());
    }

    #[test]
    fn jpeg_has_start_and_end_markers() {
        let jpeg = encode_jpeg(&render("waves", 7, None, 32, 18, 0)).unwrap();
        assert_eq!(&jpeg[..2], &[0xFF, 0xD8]);
        assert_eq!(&jpeg[jpeg.len() - 2..], &[0xFF, 0xD9]);
    }
}

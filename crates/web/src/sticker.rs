//! Web stickers (Web ステッカー, R-D1): an SVG seal in two sizes showing the domain and
//! the CA's name, linking to the public verification page; and the same as PNG,
//! rasterised with resvg and an embedded font (DejaVu Sans Bold, see assets/) so the
//! result does not depend on the fonts of the machine.

use std::sync::{Arc, OnceLock};

/// Sticker sizes: (name, width, height).
pub const SIZES: &[(&str, u32, u32)] = &[("small", 180, 72), ("large", 300, 120)];

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The SVG sticker. `verify_url` is where a click leads.
pub fn svg(domain: &str, ca_name: &str, verify_url: &str, width: u32, height: u32) -> String {
    let r = f64::from(height) * 0.32;
    let cx = f64::from(height) * 0.5;
    let tx = f64::from(height) * 0.95;
    // Long texts shrink to fit the space right of the seal: about 0.72 em per
    // character in DejaVu Sans Bold.
    let avail = f64::from(width) - tx - f64::from(height) * 0.08;
    let fit = |text: &str, max: f64| (avail / (text.chars().count().max(1) as f64 * 0.72)).min(max);
    let domain_size = fit(domain, f64::from(height) * 0.2);
    let small = fit("SECURED BY TLS", f64::from(height) * 0.13);
    let ca_size = fit(ca_name, f64::from(height) * 0.13);
    format!(
        r##"<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img" aria-label="{title}">
<title>{title}</title>
<a xlink:href="{url}" href="{url}" target="_blank">
<rect x="1" y="1" width="{w2}" height="{h2}" rx="8" fill="#ffffff" stroke="#0b5394" stroke-width="2"/>
<circle cx="{cx}" cy="{cx}" r="{r}" fill="#0b5394"/>
<path d="M {p1x} {p1y} L {p2x} {p2y} L {p3x} {p3y}" fill="none" stroke="#ffffff" stroke-width="{sw}" stroke-linecap="round" stroke-linejoin="round"/>
<text x="{tx}" y="{y1}" font-family="DejaVu Sans, sans-serif" font-weight="bold" font-size="{small:.1}" fill="#0b5394">SECURED BY TLS</text>
<text x="{tx}" y="{y2}" font-family="DejaVu Sans, sans-serif" font-weight="bold" font-size="{domain_size:.1}" fill="#1b1b1b">{domain}</text>
<text x="{tx}" y="{y3}" font-family="DejaVu Sans, sans-serif" font-weight="bold" font-size="{ca_size:.1}" fill="#555555">{ca}</text>
</a>
</svg>"##,
        title = esc(&format!("{domain} — verified by {ca_name}")),
        url = esc(verify_url),
        w2 = width - 2,
        h2 = height - 2,
        p1x = cx - r * 0.45,
        p1y = cx,
        p2x = cx - r * 0.1,
        p2y = cx + r * 0.35,
        p3x = cx + r * 0.5,
        p3y = cx - r * 0.35,
        sw = r * 0.2,
        y1 = f64::from(height) * 0.3,
        y2 = f64::from(height) * 0.58,
        y3 = f64::from(height) * 0.82,
        domain = esc(domain),
        ca = esc(ca_name),
    )
}

fn fonts() -> Arc<resvg::usvg::fontdb::Database> {
    static DB: OnceLock<Arc<resvg::usvg::fontdb::Database>> = OnceLock::new();
    DB.get_or_init(|| {
        let mut db = resvg::usvg::fontdb::Database::new();
        db.load_font_data(include_bytes!("../assets/DejaVuSans-Bold.ttf").to_vec());
        db.set_sans_serif_family("DejaVu Sans");
        Arc::new(db)
    })
    .clone()
}

/// Why a sticker could not be rendered (a bug, never the customer's input: all of it is
/// escaped).
#[derive(Debug, thiserror::Error)]
pub enum StickerError {
    /// The SVG did not parse.
    #[error("sticker SVG: {0}")]
    Svg(#[from] resvg::usvg::Error),
    /// The image has no pixels.
    #[error("sticker has no size")]
    Empty,
    /// PNG encoding failed.
    #[error("sticker PNG: {0}")]
    Png(String),
}

/// Rasterises an SVG sticker to PNG at twice its size (sharp on high-DPI screens).
pub fn png(svg: &str) -> Result<Vec<u8>, StickerError> {
    let opt = resvg::usvg::Options {
        fontdb: fonts(),
        ..Default::default()
    };
    let tree = resvg::usvg::Tree::from_str(svg, &opt)?;
    let size = tree.size().to_int_size();
    let mut pixmap = resvg::tiny_skia::Pixmap::new(size.width() * 2, size.height() * 2)
        .ok_or(StickerError::Empty)?;
    resvg::render(
        &tree,
        resvg::tiny_skia::Transform::from_scale(2.0, 2.0),
        &mut pixmap.as_mut(),
    );
    pixmap
        .encode_png()
        .map_err(|e| StickerError::Png(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The PNG really shows text: the embedded font renders dark pixels in the text area.
    #[test]
    fn png_renders_text_with_the_embedded_font() {
        let s = svg(
            "www.example.jp",
            "Shomei Development",
            "http://pki.example.jp/seal/5a01",
            300,
            120,
        );
        assert!(s.contains("www.example.jp") && s.contains("http://pki.example.jp/seal/5a01"));
        let png = png(&s).unwrap_or_default();
        assert_eq!(&png[1..4], b"PNG");
        if let Ok(dir) = std::env::var("STICKER_DUMP") {
            let _ = std::fs::write(format!("{dir}/sticker.png"), &png);
        }
        let img = resvg::tiny_skia::Pixmap::decode_png(&png).unwrap_or_else(|e| panic!("{e}"));
        // Dark pixels to the right of the seal circle (where the text is).
        let dark = img
            .pixels()
            .iter()
            .enumerate()
            .filter(|(i, p)| {
                (*i as u32 % img.width()) > 240
                    && p.red() < 100
                    && p.green() < 100
                    && p.blue() < 100
            })
            .count();
        assert!(dark > 500, "text rendered ({dark} dark pixels)");
    }

    #[test]
    fn svg_escapes_input() {
        let s = svg("a<b>.example.jp", "CA & Co", "http://x/\"y", 180, 72);
        assert!(
            !s.contains("a<b>")
                && s.contains("a&lt;b&gt;")
                && s.contains("CA &amp; Co")
                && s.contains("&quot;y")
        );
    }
}

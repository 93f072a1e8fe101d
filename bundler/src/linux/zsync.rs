//! `.zsync` control files, as `zsyncmake` 0.6.2 writes them, so AppImageUpdate (and `zsync`) can update an AppImage by
//! downloading only the blocks that changed. The AppImage's `.upd_info` points at this file.
//!
//! Format: text headers (`zsync`, `Filename`, `MTime`, `Blocksize`, `Length`, `Hash-Lengths`, `URL`, `SHA-1`), a blank
//! line, then per block (zero-padded to the block size) the last `rsum_len` bytes of the big-endian rolling checksum
//! `(a, b)` and the first `checksum_len` bytes of its MD4. Hash lengths are chosen with zsyncmake's formulas.

use md4::Digest as _;

/// Builds the `.zsync` file for `data`, published as `file_name` (relative `URL`), dated `mtime` (Unix seconds).
pub fn make(data: &[u8], file_name: &str, mtime: u64) -> Vec<u8> {
    let len = data.len() as f64;
    let blocksize: usize = if data.len() < 100_000_000 { 2048 } else { 4096 };
    let bs = blocksize as f64;
    let seq_matches: usize = if data.len() > blocksize { 2 } else { 1 };
    let sm = seq_matches as f64;
    let rsum_len = ((((len.ln() + bs.ln()) / 2f64.ln() - 8.6) / sm / 8.0).ceil() as i64).clamp(2, 4) as usize;
    let blocks_ln = (1.0 + (data.len() / blocksize) as f64).ln();
    let mut checksum_len = ((20.0 + (len.ln() + blocks_ln) / 2f64.ln()) / sm / 8.0).ceil() as i64;
    let checksum_len2 = ((7.9 + (20.0 + blocks_ln / 2f64.ln())) / 8.0) as i64;
    checksum_len = checksum_len.max(checksum_len2).min(16);
    let checksum_len = checksum_len as usize;

    let date = time::OffsetDateTime::from_unix_timestamp(mtime as i64)
        .ok()
        .and_then(|t| t.format(&time::format_description::well_known::Rfc2822).ok())
        .unwrap_or_default();
    let sha1 = hex::encode(sha1::Sha1::digest(data));
    let mut out = format!(
        "zsync: 0.6.2\nFilename: {file_name}\nMTime: {date}\nBlocksize: {blocksize}\nLength: {}\n\
         Hash-Lengths: {seq_matches},{rsum_len},{checksum_len}\nURL: {file_name}\nSHA-1: {sha1}\n\n",
        data.len()
    )
    .into_bytes();
    let mut block = vec![0u8; blocksize];
    for chunk in data.chunks(blocksize) {
        block[..chunk.len()].copy_from_slice(chunk);
        block[chunk.len()..].fill(0);
        let (mut a, mut b) = (0u16, 0u16);
        for (i, &c) in block.iter().enumerate() {
            a = a.wrapping_add(c as u16);
            b = b.wrapping_add(((blocksize - i) as u16).wrapping_mul(c as u16));
        }
        let rsum = [(a >> 8) as u8, a as u8, (b >> 8) as u8, b as u8];
        out.extend_from_slice(&rsum[4 - rsum_len..]);
        out.extend_from_slice(&md4::Md4::digest(&block)[..checksum_len]);
    }
    out
}

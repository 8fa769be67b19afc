//! Fixed-capacity byte buffers: the only "allocation" the core uses, so that rendering a file or
//! building a path can happen on the stack of any thread, inside any hook.

/// A byte string of at most `N` bytes. Writes past the capacity set an overflow flag instead of
/// panicking; a caller that sees [`Buf::overflowed`] must not use the contents.
#[derive(Clone)]
pub struct Buf<const N: usize> {
    bytes: [u8; N],
    len: usize,
    overflow: bool,
}

impl<const N: usize> core::fmt::Debug for Buf<N> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "Buf({:?})", self.as_bytes().escape_ascii())
    }
}

impl<const N: usize> Default for Buf<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> Buf<N> {
    pub const fn new() -> Self {
        Self { bytes: [0; N], len: 0, overflow: false }
    }

    /// A buffer holding `bytes`, or an overflowed one when they do not fit.
    pub fn from_bytes(bytes: &[u8]) -> Self {
        let mut b = Self::new();
        b.push(bytes);
        b
    }

    pub fn as_bytes(&self) -> &[u8] {
        self.bytes.get(..self.len).unwrap_or(&[])
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn overflowed(&self) -> bool {
        self.overflow
    }

    pub fn clear(&mut self) {
        self.len = 0;
        self.overflow = false;
    }

    /// Shortens the contents to `len` bytes (no-op when already shorter).
    pub fn truncate(&mut self, len: usize) {
        if len < self.len {
            self.len = len;
        }
    }

    pub fn push(&mut self, bytes: &[u8]) {
        let end = match self.len.checked_add(bytes.len()) {
            Some(end) if end <= N => end,
            _ => {
                self.overflow = true;
                return;
            }
        };
        if let Some(dst) = self.bytes.get_mut(self.len..end) {
            dst.copy_from_slice(bytes);
            self.len = end;
        } else {
            self.overflow = true;
        }
    }

    /// The unused capacity, to be filled in place and then committed with [`Buf::advance`].
    pub fn spare(&mut self) -> &mut [u8] {
        self.bytes.get_mut(self.len..).unwrap_or(&mut [])
    }

    /// Commits `n` bytes written into [`Buf::spare`].
    pub fn advance(&mut self, n: usize) {
        match self.len.checked_add(n) {
            Some(end) if end <= N => self.len = end,
            _ => self.overflow = true,
        }
    }
}

/// Where rendered text goes: a [`Buf`] of fixed capacity, or a borrowed slice ([`Text`]). A
/// write past the end sets the overflow flag; the text must not be used then.
pub trait Sink {
    fn push(&mut self, bytes: &[u8]);
    fn overflowed(&self) -> bool;
    fn clear(&mut self);

    fn push_byte(&mut self, byte: u8) {
        self.push(&[byte]);
    }

    /// Appends `value` in decimal.
    fn push_u64(&mut self, value: u64) {
        let mut digits = [0u8; 20];
        let text = format_u64(value, &mut digits);
        self.push(text);
    }

    /// Appends `value` in decimal with leading zeros up to `width` digits.
    fn push_u64_zero_padded(&mut self, value: u64, width: usize) {
        push_u64_aligned(self, value, width, b'0');
    }

    /// Appends `value` in decimal, right-aligned in a field of `width` characters.
    fn push_u64_padded(&mut self, value: u64, width: usize) {
        push_u64_aligned(self, value, width, b' ');
    }
}

fn push_u64_aligned<S: Sink + ?Sized>(out: &mut S, value: u64, width: usize, fill: u8) {
    let mut digits = [0u8; 20];
    let text = format_u64(value, &mut digits);
    for _ in text.len()..width {
        out.push_byte(fill);
    }
    out.push(text);
}

impl<const N: usize> Sink for Buf<N> {
    fn push(&mut self, bytes: &[u8]) {
        Buf::push(self, bytes);
    }

    fn overflowed(&self) -> bool {
        self.overflow
    }

    fn clear(&mut self) {
        Buf::clear(self);
    }
}

/// Text written into a borrowed slice (the library renders large files into scratch memory).
pub struct Text<'a> {
    bytes: &'a mut [u8],
    len: usize,
    overflow: bool,
}

impl<'a> Text<'a> {
    pub fn new(bytes: &'a mut [u8]) -> Self {
        Text { bytes, len: 0, overflow: false }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl Sink for Text<'_> {
    fn push(&mut self, bytes: &[u8]) {
        let end = self.len.saturating_add(bytes.len());
        match self.bytes.get_mut(self.len..end) {
            Some(dst) => {
                dst.copy_from_slice(bytes);
                self.len = end;
            }
            None => self.overflow = true,
        }
    }

    fn overflowed(&self) -> bool {
        self.overflow
    }

    fn clear(&mut self) {
        self.len = 0;
        self.overflow = false;
    }
}

/// Formats `value` in decimal into `digits`, returning the used tail.
pub fn format_u64(mut value: u64, digits: &mut [u8; 20]) -> &[u8] {
    let mut start = digits.len();
    loop {
        start = start.saturating_sub(1);
        if let Some(d) = digits.get_mut(start) {
            *d = b'0'.saturating_add((value % 10) as u8);
        }
        value /= 10;
        if value == 0 || start == 0 {
            break;
        }
    }
    digits.get(start..).unwrap_or(&[])
}

/// An absolute path being built component by component (no trailing NUL; the ffi adds it).
/// Cgroup paths in practice stay far below 1 KiB; a longer one overflows and fails open.
pub type PathBuf = Buf<1024>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_in_a_slice() {
        let mut space = [0u8; 8];
        let mut t = Text::new(&mut space);
        t.push(b"ab");
        t.push_u64_padded(7, 3);
        assert_eq!((t.len(), t.overflowed()), (5, false));
        t.push(b"long");
        assert!(t.overflowed());
        assert_eq!(&space[..5], b"ab  7");
    }

    #[test]
    fn numbers_and_padding() {
        let mut b = Buf::<64>::new();
        b.push(b"MemTotal:");
        b.push_u64_padded(262144, 15);
        b.push(b" kB");
        assert_eq!(b.as_bytes(), b"MemTotal:         262144 kB");
        let mut b = Buf::<32>::new();
        b.push_u64(0);
        b.push_byte(b' ');
        b.push_u64(u64::MAX);
        assert_eq!(b.as_bytes(), b"0 18446744073709551615");
    }

    #[test]
    fn overflow_is_flagged_not_panicking() {
        let mut b = Buf::<4>::new();
        b.push(b"abc");
        b.push(b"de");
        assert!(b.overflowed());
        assert_eq!(b.as_bytes(), b"abc");
    }
}

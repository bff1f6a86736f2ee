//! Header parsing on constructed files: round trips of every value type, and
//! damaged files (every truncation, random byte flips) that must error, not panic.

use gguf::{GgmlType, GgufError, GgufFile, GgufWriter, Value};

/// A small file exercising every metadata type, a nested array and three tensors.
fn sample(version: u32, alignment: Option<u32>) -> Vec<u8> {
    let mut w = GgufWriter::new().with_version(version);
    w.add_metadata("general.architecture", "tiny")
        .add_metadata("u8", 7u8)
        .add_metadata("i8", -7i8)
        .add_metadata("u16", 700u16)
        .add_metadata("i16", -700i16)
        .add_metadata("u32", 70_000u32)
        .add_metadata("i32", -70_000i32)
        .add_metadata("u64", 7_000_000_000u64)
        .add_metadata("i64", -7_000_000_000i64)
        .add_metadata("f32", 0.5f32)
        .add_metadata("f64", -0.25f64)
        .add_metadata("bool", true)
        .add_metadata(
            "strings",
            vec![Value::from("a"), Value::from(""), Value::from("ünï")],
        )
        .add_metadata("floats", vec![Value::F32(1.0), Value::F32(-2.0)])
        .add_metadata(
            "nested",
            vec![
                Value::Array(vec![Value::I16(1), Value::I16(2)]),
                Value::Array(vec![]),
            ],
        );
    if let Some(a) = alignment {
        w.add_metadata("general.alignment", a);
    }
    let xs: Vec<f32> = (0..64).map(|i| i as f32 * 0.1 - 3.0).collect();
    w.add_f32_tensor("a", &[32, 2], GgmlType::F32, &xs).unwrap();
    w.add_f32_tensor("b", &[64], GgmlType::Q8_0, &xs).unwrap();
    w.add_f32_tensor("c", &[16, 4], GgmlType::F16, &xs).unwrap();
    w.to_bytes().unwrap()
}

#[test]
fn every_value_type_round_trips() {
    for version in [2, 3] {
        let f = GgufFile::from_bytes(sample(version, None)).unwrap();
        assert_eq!(f.version(), version);
        assert_eq!(f.get_str("general.architecture"), Some("tiny"));
        assert_eq!(f.get("u8"), Some(&Value::U8(7)));
        assert_eq!(f.get("i8"), Some(&Value::I8(-7)));
        assert_eq!(f.get("u16"), Some(&Value::U16(700)));
        assert_eq!(f.get("i16"), Some(&Value::I16(-700)));
        assert_eq!(f.get_u64("u32"), Some(70_000));
        assert_eq!(f.get("i32"), Some(&Value::I32(-70_000)));
        assert_eq!(f.get_u64("u64"), Some(7_000_000_000));
        assert_eq!(f.get("i64").and_then(Value::as_i64), Some(-7_000_000_000));
        assert_eq!(f.get_u64("i64"), None);
        assert_eq!(f.get_f32("f32"), Some(0.5));
        assert_eq!(f.get_f32("f64"), Some(-0.25));
        assert_eq!(f.get_f32("u16"), Some(700.0));
        assert_eq!(f.get_bool("bool"), Some(true));
        let s = f.get("strings").and_then(Value::as_array).unwrap();
        assert_eq!(s[2].as_str(), Some("ünï"));
        let nested = f.get("nested").and_then(Value::as_array).unwrap();
        assert_eq!(nested[0], Value::Array(vec![Value::I16(1), Value::I16(2)]));
        assert_eq!(nested[1], Value::Array(vec![]));
        let keys: Vec<&str> = f.metadata().iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys[..3], ["general.architecture", "u8", "i8"]);
        assert_eq!(f.tensors().len(), 3);
        let a = f.tensor("a").unwrap();
        assert_eq!((a.cols(), a.rows(), a.n_elements()), (32, 2, 64));
        let b = f.tensor("b").unwrap();
        assert_eq!(b.n_bytes(), 68);
        assert_eq!(f.tensor_data(b).len(), 68);
        let first = f32::from_le_bytes(f.tensor_data(a)[..4].try_into().unwrap());
        assert_eq!(first, -3.0);
    }
}

#[test]
fn custom_alignment_is_honoured() {
    let f = GgufFile::from_bytes(sample(3, Some(256))).unwrap();
    assert_eq!(f.alignment(), 256);
    assert_eq!(f.data_start() % 256, 0);
    for t in f.tensors() {
        assert_eq!(t.offset % 256, 0, "{}", t.name);
    }
    let mut w = GgufWriter::new();
    w.add_metadata("general.alignment", 48u32);
    assert!(w.to_bytes().is_err(), "alignment must be a power of two");
}

#[test]
fn every_truncation_is_an_error() {
    let bytes = sample(3, None);
    for len in 0..bytes.len() {
        let r = GgufFile::from_bytes(bytes[..len].to_vec());
        assert!(r.is_err(), "prefix of {len} bytes parsed");
    }
    assert!(GgufFile::from_bytes(bytes).is_ok());
}

#[test]
fn truncation_errors_say_where() {
    let mut w = GgufWriter::new();
    w.add_metadata("general.architecture", "tiny");
    let bytes = w.to_bytes().unwrap();
    // Header (24 bytes), key length (8), then 5 of the key's 20 bytes.
    match GgufFile::from_bytes(bytes[..37].to_vec()) {
        Err(GgufError::Truncated {
            what,
            offset,
            need,
            available,
        }) => {
            assert_eq!((what, offset, need, available), ("metadata key", 32, 20, 5));
        }
        other => panic!("unexpected {other:?}"),
    }
}

/// xorshift64*: a tiny deterministic generator so the mutation run is reproducible.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

#[test]
fn random_mutations_never_panic() {
    let base = sample(3, None);
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let (mut ok, mut err) = (0, 0);
    for _ in 0..5000 {
        let mut b = base.clone();
        for _ in 0..1 + rng.next() % 4 {
            let i = (rng.next() % b.len() as u64) as usize;
            // Mix single-bit flips with whole-byte overwrites (which hit length fields
            // with large values).
            if rng.next() & 1 == 0 {
                b[i] ^= 1 << (rng.next() % 8);
            } else {
                b[i] = rng.next() as u8;
            }
        }
        match GgufFile::from_bytes(b) {
            Ok(f) => {
                ok += 1;
                for t in f.tensors() {
                    assert_eq!(f.tensor_data(t).len() as u64, t.n_bytes());
                }
            }
            Err(_) => err += 1,
        }
    }
    assert!(err > 100 && ok > 100, "ok {ok}, err {err}");
}

#[test]
fn specific_errors() {
    let good = sample(3, None);
    let mut b = good.clone();
    b[0] = b'X';
    assert!(matches!(
        GgufFile::from_bytes(b),
        Err(GgufError::BadMagic { .. })
    ));
    let mut b = good.clone();
    b[4] = 1;
    assert!(matches!(
        GgufFile::from_bytes(b),
        Err(GgufError::UnsupportedVersion(1))
    ));
    let mut b = good.clone();
    b[8..16].copy_from_slice(&u64::MAX.to_le_bytes());
    assert!(matches!(
        GgufFile::from_bytes(b),
        Err(GgufError::Implausible {
            what: "tensor count",
            ..
        })
    ));

    let mut w = GgufWriter::new();
    w.add_tensor("x", &[2], GgmlType::F32, vec![0; 8]).unwrap();
    assert!(matches!(
        w.add_tensor("x", &[2], GgmlType::F32, vec![0; 8]),
        Err(GgufError::DuplicateTensor(_))
    ));
    assert!(w.add_tensor("y", &[3], GgmlType::F32, vec![0; 8]).is_err());
    assert!(w
        .add_tensor("z", &[16], GgmlType::Q8_0, vec![0; 34])
        .is_err());
}

/// Builds a file by hand so fields the writer never produces can be corrupted.
fn raw_file(kv: &[u8], n_kv: u64, tensors: &[u8], n_tensors: u64, data: &[u8]) -> Vec<u8> {
    let mut b = b"GGUF".to_vec();
    b.extend_from_slice(&3u32.to_le_bytes());
    b.extend_from_slice(&n_tensors.to_le_bytes());
    b.extend_from_slice(&n_kv.to_le_bytes());
    b.extend_from_slice(kv);
    b.extend_from_slice(tensors);
    b.resize(b.len().div_ceil(32) * 32, 0);
    b.extend_from_slice(data);
    b
}

fn tensor_info(name: &str, dims: &[u64], ty: u32, offset: u64) -> Vec<u8> {
    let mut b = (name.len() as u64).to_le_bytes().to_vec();
    b.extend_from_slice(name.as_bytes());
    b.extend_from_slice(&(dims.len() as u32).to_le_bytes());
    for d in dims {
        b.extend_from_slice(&d.to_le_bytes());
    }
    b.extend_from_slice(&ty.to_le_bytes());
    b.extend_from_slice(&offset.to_le_bytes());
    b
}

#[test]
fn hand_built_corruptions() {
    // Invalid UTF-8 in a key.
    let mut kv = 2u64.to_le_bytes().to_vec();
    kv.extend_from_slice(&[0xff, 0xfe]);
    kv.extend_from_slice(&0u32.to_le_bytes());
    kv.push(1);
    assert!(matches!(
        GgufFile::from_bytes(raw_file(&kv, 1, &[], 0, &[])),
        Err(GgufError::InvalidUtf8 { .. })
    ));
    // Unknown value type.
    let mut kv = 1u64.to_le_bytes().to_vec();
    kv.push(b'k');
    kv.extend_from_slice(&99u32.to_le_bytes());
    kv.extend_from_slice(&[0; 8]);
    assert!(matches!(
        GgufFile::from_bytes(raw_file(&kv, 1, &[], 0, &[])),
        Err(GgufError::UnknownValueType { ty: 99, .. })
    ));
    // Unknown tensor type, data out of bounds, misaligned offset, duplicate name.
    let data = [0u8; 64];
    let bad_type = tensor_info("t", &[4], 77, 0);
    assert!(matches!(
        GgufFile::from_bytes(raw_file(&[], 0, &bad_type, 1, &data)),
        Err(GgufError::UnknownTensorType { ty: 77, .. })
    ));
    let too_big = tensor_info("t", &[17], 0, 0);
    assert!(matches!(
        GgufFile::from_bytes(raw_file(&[], 0, &too_big, 1, &data)),
        Err(GgufError::TensorOutOfBounds { .. })
    ));
    let overflow = tensor_info("t", &[u64::MAX, 4], 0, 0);
    assert!(GgufFile::from_bytes(raw_file(&[], 0, &overflow, 1, &data)).is_err());
    let odd = tensor_info("t", &[4], 0, 4);
    assert!(matches!(
        GgufFile::from_bytes(raw_file(&[], 0, &odd, 1, &data)),
        Err(GgufError::Misaligned { .. })
    ));
    let partial_block = tensor_info("t", &[16], GgmlType::Q8_0.id(), 0);
    assert!(matches!(
        GgufFile::from_bytes(raw_file(&[], 0, &partial_block, 1, &data)),
        Err(GgufError::Misaligned { .. })
    ));
    let mut dup = tensor_info("t", &[4], 0, 0);
    dup.extend(tensor_info("t", &[4], 0, 32));
    assert!(matches!(
        GgufFile::from_bytes(raw_file(&[], 0, &dup, 2, &data)),
        Err(GgufError::DuplicateTensor(_))
    ));
    let ok = tensor_info("t", &[16], 0, 0);
    assert!(GgufFile::from_bytes(raw_file(&[], 0, &ok, 1, &data)).is_ok());
}

#[test]
fn deep_nesting_is_rejected() {
    // An array of arrays of ... nested far deeper than any real file.
    let mut kv = 1u64.to_le_bytes().to_vec();
    kv.push(b'k');
    kv.extend_from_slice(&9u32.to_le_bytes());
    for _ in 0..64 {
        kv.extend_from_slice(&9u32.to_le_bytes());
        kv.extend_from_slice(&1u64.to_le_bytes());
    }
    kv.extend_from_slice(&0u32.to_le_bytes());
    kv.extend_from_slice(&0u64.to_le_bytes());
    assert!(matches!(
        GgufFile::from_bytes(raw_file(&kv, 1, &[], 0, &[])),
        Err(GgufError::Implausible {
            what: "array nesting depth",
            ..
        })
    ));
}

/// A file read into memory (`open_resident`) parses to what the mapping does, and
/// a damaged file is refused the same way.
#[test]
fn resident_and_mapped_files_agree() {
    let dir = std::env::temp_dir().join(format!("gguf-resident-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("sample.gguf");
    let bytes = sample(3, Some(64));
    std::fs::write(&path, &bytes).unwrap();
    let mapped = GgufFile::open(&path).unwrap();
    let resident = GgufFile::open_resident(&path).unwrap();
    assert_eq!(mapped.metadata(), resident.metadata());
    assert_eq!(mapped.tensors().len(), 3);
    for t in mapped.tensors() {
        let r = resident.tensor(&t.name).expect("same tensors");
        assert_eq!(mapped.tensor_data(t), resident.tensor_data(r), "{}", t.name);
    }
    std::fs::write(&path, &bytes[..bytes.len() - 1]).unwrap();
    assert!(GgufFile::open_resident(&path).is_err());
    assert!(GgufFile::open_resident(dir.join("missing.gguf")).is_err());
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `open_for_kernels` repacks a tileable Q4_K tensor where the 512-bit kernels run
/// (and only there), leaves the others as they are, and multiplies as the file does.
#[test]
fn files_opened_for_kernels_multiply_as_read() {
    use gguf::{Isa, Layout, QMatrix};
    let dir = std::env::temp_dir().join(format!("gguf-kernels-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("tiles.gguf");
    let (rows, cols) = (32, 512);
    let w: Vec<f32> = (0..rows * cols)
        .map(|i| ((i * 37) % 101) as f32 / 50.0 - 1.0)
        .collect();
    let mut writer = GgufWriter::new();
    writer.add_metadata("general.architecture", "tiny");
    writer
        .add_f32_tensor("tiled", &[cols as u64, rows as u64], GgmlType::Q4_K, &w)
        .unwrap();
    writer
        .add_f32_tensor("odd", &[cols as u64, 8], GgmlType::Q4_K, &w[..8 * cols])
        .unwrap();
    std::fs::write(&path, writer.to_bytes().unwrap()).unwrap();
    let plain = GgufFile::open_resident(&path).unwrap();
    let fast = GgufFile::open_for_kernels(&path).unwrap();
    let repacks = Isa::detect() == Isa::Avx512Vnni && std::env::var("VERIMATH_REPACK").is_err();
    let want = if repacks {
        Layout::Tiles16
    } else {
        Layout::Rows
    };
    assert_eq!(fast.tensor("tiled").unwrap().layout, want);
    assert_eq!(
        fast.tensor("odd").unwrap().layout,
        Layout::Rows,
        "8 rows do not tile"
    );
    let x: Vec<f32> = (0..3 * cols)
        .map(|i| ((i * 11) % 29) as f32 / 14.0 - 1.0)
        .collect();
    for name in ["tiled", "odd"] {
        let a = QMatrix::from_tensor(&plain, plain.tensor(name).unwrap()).unwrap();
        let b = QMatrix::from_tensor(&fast, fast.tensor(name).unwrap()).unwrap();
        for batch in [1, 3] {
            let (mut ya, mut yb) = (vec![0f32; batch * a.rows], vec![0f32; batch * a.rows]);
            a.matmul(&x[..batch * cols], batch, &mut ya);
            b.matmul(&x[..batch * cols], batch, &mut yb);
            for (i, (p, q)) in ya.iter().zip(&yb).enumerate() {
                assert!(
                    (p - q).abs() <= 1e-4 * p.abs().max(1.0),
                    "{name} {batch} {i}: {p} {q}"
                );
            }
        }
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

//! Tests of the SMBIOS parser on built tables, the committed binary fixtures, and broken input.

use super::*;
use crate::collect::hardware::smbios_builder::{self as build, Dimm, Fields, TableBuilder};

fn testdata(name: &str) -> Vec<u8> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("testdata/hardware/smbios")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn qemu_fixture_gives_identity_and_one_dimm() {
    let info = parse_smbios(
        Some(&testdata("qemu-q35.entry.bin")),
        &testdata("qemu-q35.bin"),
    )
    .unwrap();
    assert_eq!(info.version, Some((3, 0)));
    assert_eq!(info.bios.vendor.as_deref(), Some("SeaBIOS"));
    assert_eq!(info.bios.date.as_deref(), Some("04/01/2014"));
    assert_eq!(info.bios.release.as_deref(), Some("0.0"));
    assert_eq!(info.system.vendor.as_deref(), Some("QEMU"));
    assert_eq!(
        info.system.product.as_deref(),
        Some("Standard PC (Q35 + ICH9, 2009)")
    );
    assert_eq!(info.system.serial, None);
    assert_eq!(
        info.system.uuid.as_deref(),
        Some("9a3e0f1c-52b4-4e8e-a0d1-6c2f6b1e7d42")
    );
    assert_eq!(info.system.chassis_type.as_deref(), Some("Other"));
    assert_eq!(info.baseboard, Baseboard::default());
    assert_eq!(info.populated_sockets(), Some(1));
    assert_eq!(
        info.modules,
        [MemoryModule {
            slot: "DIMM 0".into(),
            size_bytes: Some(2 << 30),
            memory_type: Some("RAM".into()),
            form_factor: Some("DIMM".into()),
            vendor: Some("QEMU".into()),
            ..MemoryModule::default()
        }]
    );
}

#[test]
fn dell_fixture_skips_empty_slots_and_counts_sockets() {
    let info = parse_smbios(
        Some(&testdata("dell-r640.entry.bin")),
        &testdata("dell-r640.bin"),
    )
    .unwrap();
    assert_eq!(info.version, Some((3, 2)));
    assert_eq!(info.system.serial.as_deref(), Some("7XK9PQ2"));
    assert_eq!(
        info.system.uuid.as_deref(),
        Some("4c4c4544-0037-5810-804b-b9c04f505132")
    );
    assert_eq!(
        info.chassis.chassis_type.as_deref(),
        Some("Rack Mount Chassis")
    );
    assert_eq!(info.baseboard.product.as_deref(), Some("0H28RR"));
    assert_eq!(info.populated_sockets(), Some(2));
    assert_eq!(info.processors[1].socket.as_deref(), Some("CPU2"));
    assert_eq!(info.processors[1].core_count, Some(8));
    assert_eq!(info.processors[1].thread_count, Some(16));
    let slots: Vec<_> = info.modules.iter().map(|m| m.slot.as_str()).collect();
    assert_eq!(slots, ["A1", "A2", "B1", "B2"]);
    let dimm = &info.modules[0];
    assert_eq!(dimm.size_bytes, Some(16 << 30));
    assert_eq!(dimm.memory_type.as_deref(), Some("DDR4"));
    assert_eq!(dimm.speed_mts, Some(2666));
    assert_eq!(dimm.configured_speed_mts, Some(2400));
    assert_eq!(dimm.serial.as_deref(), Some("3A2B1C01"));
    assert_eq!(dimm.part_number.as_deref(), Some("HMA82GR7CJR8N-VK"));
}

#[test]
fn thinkpad_fixture_drops_placeholder_serials_and_asset_tags() {
    let info = parse_smbios(
        Some(&testdata("thinkpad-x1-gen9.entry.bin")),
        &testdata("thinkpad-x1-gen9.bin"),
    )
    .unwrap();
    assert_eq!(info.system.chassis_type.as_deref(), Some("Notebook"));
    assert_eq!(info.chassis.asset_tag, None);
    assert_eq!(info.baseboard.asset_tag, None);
    assert_eq!(info.modules.len(), 2);
    assert_eq!(info.modules[0].memory_type.as_deref(), Some("LPDDR4"));
    assert_eq!(info.modules[0].form_factor.as_deref(), Some("Row of chips"));
    assert_eq!(info.modules[0].bank.as_deref(), Some("BANK 0"));
    assert_eq!(info.modules[0].serial, None);
}

fn one_dimm(size: u16, extended: u32, speed: u16, extended_speed: u32) -> Vec<u8> {
    TableBuilder::default()
        .add(
            Fields::new(17, 0x5C)
                .word(0x0C, size)
                .string(0x10, "DIMM_A1")
                .byte(0x12, 0x22)
                .word(0x15, speed)
                .dword(0x1C, extended)
                .dword(0x54, extended_speed),
        )
        .finish()
}

#[test]
fn memory_sizes_follow_granularity_and_extended_size() {
    let check = |size: u16, extended: u32, expected: Option<u64>| {
        let info = parse_smbios(None, &one_dimm(size, extended, 4800, 0)).unwrap();
        assert_eq!(info.modules[0].size_bytes, expected, "size word {size:#x}");
    };
    check(8192, 0, Some(8 << 30));
    // Bit 15 set: the value counts KiB.
    check(0x8000 | 512, 0, Some(512 << 10));
    // 0x7FFF: the real size is in the extended field, in MiB.
    check(0x7FFF, 65536, Some(64 << 30));
    check(0xFFFF, 0, None);
    let empty = parse_smbios(None, &one_dimm(0, 0, 0, 0)).unwrap();
    assert!(empty.modules.is_empty(), "an empty slot is not a module");
}

#[test]
fn memory_speed_uses_the_extended_field_when_flagged() {
    let info = parse_smbios(None, &one_dimm(32768 - 1, 32768, 0xFFFF, 70_000)).unwrap();
    assert_eq!(info.modules[0].speed_mts, Some(70_000));
    assert_eq!(info.modules[0].memory_type.as_deref(), Some("DDR5"));
    let unknown = parse_smbios(None, &one_dimm(1024, 0, 0, 0)).unwrap();
    assert_eq!(unknown.modules[0].speed_mts, None);
}

#[test]
fn uuid_byte_order_depends_on_the_version() {
    let raw = [
        0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xAA, 0xBB, 0xCC, 0xDD, 0xEE,
        0xFF,
    ];
    let table = TableBuilder::default()
        .add(Fields::new(1, 0x1B).bytes(0x08, &raw))
        .finish();
    let modern = parse_smbios(None, &table).unwrap();
    assert_eq!(
        modern.system.uuid.as_deref(),
        Some("33221100-5544-7766-8899-aabbccddeeff")
    );
    let ep = build::entry_point_2(2, 5, table.len(), 2);
    let old = parse_smbios(Some(&ep), &table).unwrap();
    assert_eq!(old.version, Some((2, 5)));
    assert_eq!(
        old.system.uuid.as_deref(),
        Some("00112233-4455-6677-8899-aabbccddeeff")
    );
    assert_eq!(format_uuid(&[0; 16], true), None);
    assert_eq!(format_uuid(&[0xFF; 16], true), None);
}

#[test]
fn short_structures_from_old_versions_leave_later_fields_null() {
    // An SMBIOS 2.0 type 1 ends before the UUID; a 2.0 type 17 before the extended fields.
    let table = TableBuilder::default()
        .add(
            Fields::new(1, 0x08)
                .string(0x04, "ACME")
                .string(0x05, "Box"),
        )
        .add(
            Fields::new(17, 0x15)
                .word(0x0C, 256)
                .string(0x10, "SIMM1")
                .byte(0x12, 0x03),
        )
        .finish();
    let info = parse_smbios(None, &table).unwrap();
    assert_eq!(info.system.product.as_deref(), Some("Box"));
    assert_eq!(info.system.uuid, None);
    assert_eq!(info.modules[0].size_bytes, Some(256 << 20));
    assert_eq!(info.modules[0].speed_mts, None);
}

#[test]
fn entry_points_give_the_version_and_bound_the_table() {
    let (_, table) = build::qemu_q35();
    let ep2 = build::entry_point_2(2, 8, table.len(), 6);
    assert_eq!(
        parse_smbios(Some(&ep2), &table).unwrap().version,
        Some((2, 8))
    );
    // Bytes after the declared length (firmware padding) are not parsed.
    let mut padded = table.clone();
    padded.extend_from_slice(&[0xAB; 7]);
    let ep3 = build::entry_point_3(3, 0, table.len());
    assert!(parse_smbios(Some(&ep3), &padded).is_ok());
    assert_eq!(
        parse_smbios(Some(b"_SM3_"), &table),
        Err(SmbiosError::EntryPointTooShort {
            anchor: "_SM3_",
            len: 5
        })
    );
    assert_eq!(
        parse_smbios(Some(b"garbage entry point....."), &table),
        Err(SmbiosError::UnknownEntryPoint)
    );
}

#[test]
fn truncated_and_garbage_tables_are_errors() {
    let (_, table) = build::dell_r640();
    assert_eq!(parse_smbios(None, &[]), Err(SmbiosError::EmptyTable));
    // Cut inside the first structure's formatted area.
    assert_eq!(
        parse_smbios(None, &table[..10]),
        Err(SmbiosError::Truncated {
            offset: 0,
            table_len: 10
        })
    );
    // Cut inside a string set: no double NUL.
    assert!(matches!(
        parse_smbios(None, &table[..0x1A + 5]),
        Err(SmbiosError::UnterminatedStrings { offset: 0, kind: 0 })
    ));
    assert_eq!(
        parse_smbios(None, &[1, 2, 0, 0, 0, 0]),
        Err(SmbiosError::BadLength {
            offset: 0,
            length: 2
        })
    );
    // A header that runs past the end.
    assert!(matches!(
        parse_smbios(None, &[0, 4, 0]),
        Err(SmbiosError::Truncated { .. })
    ));
}

#[test]
fn every_prefix_of_a_real_table_parses_or_errors_without_panicking() {
    for (_, table) in [
        build::qemu_q35(),
        build::dell_r640(),
        build::thinkpad_x1_gen9(),
    ] {
        for end in 0..table.len() {
            let _ = parse_smbios(None, &table[..end]);
        }
        let mut corrupted = table.clone();
        for at in 0..corrupted.len() {
            corrupted[at] ^= 0xA5;
            let _ = parse_smbios(None, &corrupted);
        }
    }
}

#[test]
fn string_indexes_past_the_string_set_are_null() {
    let table = TableBuilder::default()
        .add(Fields::new(2, 0x0F).string(0x04, "Vendor").byte(0x05, 9))
        .finish();
    let info = parse_smbios(None, &table).unwrap();
    assert_eq!(info.baseboard.vendor.as_deref(), Some("Vendor"));
    assert_eq!(info.baseboard.product, None);
}

proptest::proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(
        entry in proptest::option::of(proptest::collection::vec(proptest::prelude::any::<u8>(), 0..40)),
        table in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..600),
    ) {
        let _ = parse_smbios(entry.as_deref(), &table);
    }
}

#[test]
fn read_reports_a_missing_table_as_a_read_error() {
    let dir = tempfile::tempdir().unwrap();
    match read(&Root::new(dir.path())) {
        Err(TableError::Read(error)) => assert!(error.is_not_found()),
        other => panic!("expected a read error, got {other:?}"),
    }
}

#[test]
fn dimm_builder_round_trips_through_the_parser() {
    let dimm = Dimm {
        locator: "P0 CHANNEL A",
        bank: "BANK 0",
        size_mib: 49152,
        form_factor: 0x0D,
        memory_type: 0x23,
        speed: 6400,
        configured_speed: 5600,
        manufacturer: "Micron Technology",
        serial: "E1F2A3B4",
        part_number: "MT62F1536M32D4DS-026",
    };
    let table = TableBuilder::default()
        .add(build::memory_device(&dimm))
        .finish();
    let module = &parse_smbios(None, &table).unwrap().modules[0];
    assert_eq!(module.size_bytes, Some(48 << 30));
    assert_eq!(module.memory_type.as_deref(), Some("LPDDR5"));
    assert_eq!(module.form_factor.as_deref(), Some("SODIMM"));
    assert_eq!(module.configured_speed_mts, Some(5600));
    assert_eq!(module.vendor.as_deref(), Some("Micron Technology"));
}

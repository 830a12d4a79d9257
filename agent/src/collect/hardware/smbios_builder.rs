//! Test-only SMBIOS table builder, and the realistic tables committed as fixtures.
//!
//! This machine has no DMI (a microVM seen as a container), so raw tables are built here field by field
//! at the offsets of the SMBIOS 3.7 specification, laid out as QEMU, a Dell PowerEdge R640 and a Lenovo
//! ThinkPad X1 Carbon Gen 9 lay theirs out. The committed binaries are checked against this builder by
//! `committed_fixtures_match_the_builder`; regenerate them after a change with
//! `CENSUS_REGENERATE_FIXTURES=1 cargo test -p census-agent committed_fixtures`.

/// One structure under construction: its formatted area (header included) and its strings.
pub struct Fields {
    area: Vec<u8>,
    strings: Vec<String>,
}

impl Fields {
    pub fn new(kind: u8, length: u8) -> Self {
        let mut area = vec![0; usize::from(length)];
        area[0] = kind;
        area[1] = length;
        Self {
            area,
            strings: Vec::new(),
        }
    }

    pub fn byte(mut self, at: usize, value: u8) -> Self {
        self.area[at] = value;
        self
    }

    pub fn word(mut self, at: usize, value: u16) -> Self {
        self.area[at..at + 2].copy_from_slice(&value.to_le_bytes());
        self
    }

    pub fn dword(mut self, at: usize, value: u32) -> Self {
        self.area[at..at + 4].copy_from_slice(&value.to_le_bytes());
        self
    }

    pub fn bytes(mut self, at: usize, value: &[u8]) -> Self {
        self.area[at..at + value.len()].copy_from_slice(value);
        self
    }

    /// Adds `value` to the string set and stores its index at `at`.
    pub fn string(mut self, at: usize, value: &str) -> Self {
        self.strings.push(value.to_string());
        self.area[at] = u8::try_from(self.strings.len()).expect("at most 255 strings");
        self
    }
}

/// A whole table: structures appended in order, handles numbered from 0.
#[derive(Default)]
pub struct TableBuilder {
    table: Vec<u8>,
    next_handle: u16,
}

impl TableBuilder {
    pub fn add(&mut self, fields: Fields) -> &mut Self {
        let mut area = fields.area;
        area[2..4].copy_from_slice(&self.next_handle.to_le_bytes());
        self.next_handle += 1;
        self.table.extend_from_slice(&area);
        for string in &fields.strings {
            self.table.extend_from_slice(string.as_bytes());
            self.table.push(0);
        }
        if fields.strings.is_empty() {
            self.table.push(0);
        }
        self.table.push(0);
        self
    }

    /// The table with its type 127 end-of-table structure.
    pub fn finish(&mut self) -> Vec<u8> {
        self.add(Fields::new(127, 4));
        std::mem::take(&mut self.table)
    }
}

fn checksum(bytes: &mut [u8], at: usize) {
    let sum = bytes.iter().fold(0u8, |sum, &b| sum.wrapping_add(b));
    bytes[at] = 0u8.wrapping_sub(sum);
}

/// A 64-bit SMBIOS 3.x entry point (`_SM3_`, 24 bytes).
pub fn entry_point_3(major: u8, minor: u8, table_len: usize) -> Vec<u8> {
    let mut ep = vec![0u8; 0x18];
    ep[0..5].copy_from_slice(b"_SM3_");
    ep[0x06] = 0x18;
    ep[0x07] = major;
    ep[0x08] = minor;
    ep[0x0A] = 1;
    ep[0x0C..0x10].copy_from_slice(&u32::try_from(table_len).unwrap().to_le_bytes());
    ep[0x10..0x18].copy_from_slice(&0x7F8E_B000u64.to_le_bytes());
    checksum(&mut ep, 0x05);
    ep
}

/// A 32-bit SMBIOS 2.x entry point (`_SM_` with its `_DMI_` intermediate part, 31 bytes).
pub fn entry_point_2(major: u8, minor: u8, table_len: usize, n_structures: u16) -> Vec<u8> {
    let mut ep = vec![0u8; 0x1F];
    ep[0..4].copy_from_slice(b"_SM_");
    ep[0x05] = 0x1F;
    ep[0x06] = major;
    ep[0x07] = minor;
    ep[0x10..0x15].copy_from_slice(b"_DMI_");
    ep[0x16..0x18].copy_from_slice(&u16::try_from(table_len).unwrap().to_le_bytes());
    ep[0x18..0x1C].copy_from_slice(&0x000F_0000u32.to_le_bytes());
    ep[0x1C..0x1E].copy_from_slice(&n_structures.to_le_bytes());
    ep[0x1E] = (major << 4) | minor;
    checksum(&mut ep[0x10..], 0x05);
    checksum(&mut ep, 0x04);
    ep
}

pub fn bios(vendor: &str, version: &str, date: &str, release: (u8, u8)) -> Fields {
    Fields::new(0, 0x1A)
        .string(0x04, vendor)
        .string(0x05, version)
        .word(0x06, 0xE800)
        .string(0x08, date)
        .byte(0x09, 0xFF)
        .byte(0x14, release.0)
        .byte(0x15, release.1)
        .byte(0x16, 0xFF)
        .byte(0x17, 0xFF)
}

/// Type 1; `uuid` is given as printed, and stored with its first three fields little-endian.
pub fn system(identity: [&str; 4], uuid: &str, sku: &str, family: &str) -> Fields {
    let mut raw: [u8; 16] = hex::decode(uuid.replace('-', ""))
        .unwrap()
        .try_into()
        .unwrap();
    raw[0..4].reverse();
    raw[4..6].reverse();
    raw[6..8].reverse();
    let mut fields = Fields::new(1, 0x1B).byte(0x18, 0x06).bytes(0x08, &raw);
    for (at, value) in [0x04, 0x05, 0x06, 0x07].into_iter().zip(identity) {
        if !value.is_empty() {
            fields = fields.string(at, value);
        }
    }
    for (at, value) in [(0x19, sku), (0x1A, family)] {
        if !value.is_empty() {
            fields = fields.string(at, value);
        }
    }
    fields
}

pub fn baseboard(vendor: &str, product: &str, version: &str, serial: &str) -> Fields {
    Fields::new(2, 0x0F)
        .string(0x04, vendor)
        .string(0x05, product)
        .string(0x06, version)
        .string(0x07, serial)
        .byte(0x09, 0x01)
        .word(0x0B, 3)
        .byte(0x0D, 0x0A)
}

pub fn chassis(vendor: &str, kind: u8, serial: &str) -> Fields {
    let fields = Fields::new(3, 0x16)
        .string(0x04, vendor)
        .byte(0x05, kind)
        .byte(0x09, 0x03)
        .byte(0x0A, 0x03)
        .byte(0x0B, 0x03)
        .byte(0x0C, 0x03);
    if serial.is_empty() {
        fields
    } else {
        fields.string(0x07, serial)
    }
}

pub fn processor(
    socket: &str,
    manufacturer: &str,
    version: &str,
    cores: u8,
    threads: u8,
) -> Fields {
    Fields::new(4, 0x30)
        .string(0x04, socket)
        .byte(0x05, 0x03)
        .byte(0x06, 0xB3)
        .string(0x07, manufacturer)
        .string(0x10, version)
        .byte(0x18, 0x41)
        .byte(0x23, cores)
        .byte(0x24, cores)
        .byte(0x25, threads)
        .word(0x28, 0xB3)
        .word(0x2A, u16::from(cores))
        .word(0x2C, u16::from(cores))
        .word(0x2E, u16::from(threads))
}

/// A type 17 memory device as SMBIOS 3.3 lays it out (0x5C bytes).
pub struct Dimm<'a> {
    pub locator: &'a str,
    pub bank: &'a str,
    pub size_mib: u32,
    pub form_factor: u8,
    pub memory_type: u8,
    pub speed: u16,
    pub configured_speed: u16,
    pub manufacturer: &'a str,
    pub serial: &'a str,
    pub part_number: &'a str,
}

pub fn memory_device(dimm: &Dimm) -> Fields {
    let (size, extended) = if dimm.size_mib >= 0x7FFF {
        (0x7FFF, dimm.size_mib)
    } else {
        (u16::try_from(dimm.size_mib).unwrap(), 0)
    };
    let mut fields = Fields::new(17, 0x5C)
        .word(0x04, 0x1000)
        .word(0x06, 0xFFFE)
        .word(0x08, if dimm.size_mib == 0 { 0xFFFF } else { 72 })
        .word(0x0A, if dimm.size_mib == 0 { 0xFFFF } else { 64 })
        .word(0x0C, size)
        .byte(0x0E, dimm.form_factor)
        .string(0x10, dimm.locator)
        .byte(0x12, dimm.memory_type)
        .word(0x13, 0x0080)
        .word(0x15, dimm.speed)
        .dword(0x1C, extended)
        .word(0x20, dimm.configured_speed);
    for (at, value) in [
        (0x11, dimm.bank),
        (0x17, dimm.manufacturer),
        (0x18, dimm.serial),
        (0x1A, dimm.part_number),
    ] {
        if !value.is_empty() {
            fields = fields.string(at, value);
        }
    }
    fields
}

/// QEMU 8.2 `-machine q35` with SeaBIOS, 2 vCPUs and 2 GiB: SMBIOS 3.0, as QEMU builds it.
pub fn qemu_q35() -> (Vec<u8>, Vec<u8>) {
    let mut table = TableBuilder::default();
    table
        .add(bios(
            "SeaBIOS",
            "1.16.3-debian-1.16.3-2",
            "04/01/2014",
            (0, 0),
        ))
        .add(system(
            ["QEMU", "Standard PC (Q35 + ICH9, 2009)", "pc-q35-8.2", ""],
            "9a3e0f1c-52b4-4e8e-a0d1-6c2f6b1e7d42",
            "",
            "",
        ))
        .add(chassis("QEMU", 0x01, "").string(0x06, "pc-q35-8.2"))
        .add(processor("CPU 0", "QEMU", "pc-q35-8.2", 2, 2))
        .add(memory_device(&Dimm {
            locator: "DIMM 0",
            bank: "",
            size_mib: 2048,
            form_factor: 0x09,
            memory_type: 0x07,
            speed: 0,
            configured_speed: 0,
            manufacturer: "QEMU",
            serial: "",
            part_number: "",
        }))
        .add(Fields::new(32, 0x0B));
    let table = table.finish();
    (entry_point_3(3, 0, table.len()), table)
}

/// A Dell PowerEdge R640 with two Xeon Silver 4110 and four 16 GiB RDIMMs (two slots left empty).
pub fn dell_r640() -> (Vec<u8>, Vec<u8>) {
    let mut table = TableBuilder::default();
    table
        .add(bios("Dell Inc.", "2.19.1", "06/04/2023", (2, 19)))
        .add(system(
            ["Dell Inc.", "PowerEdge R640", "", "7XK9PQ2"],
            "4c4c4544-0037-5810-804b-b9c04f505132",
            "SKU=NotProvided;ModelName=PowerEdge R640",
            "PowerEdge",
        ))
        .add(baseboard(
            "Dell Inc.",
            "0H28RR",
            "A06",
            ".7XK9PQ2.CNFCP0099T00EN.",
        ))
        .add(chassis("Dell Inc.", 0x17, "7XK9PQ2"));
    for socket in ["CPU1", "CPU2"] {
        table.add(processor(
            socket,
            "Intel",
            "Intel(R) Xeon(R) Silver 4110 CPU @ 2.10GHz",
            8,
            16,
        ));
    }
    let populated = [
        ("A1", "3A2B1C01"),
        ("A2", "3A2B1C02"),
        ("B1", "3A2B1C03"),
        ("B2", "3A2B1C04"),
    ];
    for (locator, serial) in populated {
        table.add(memory_device(&Dimm {
            locator,
            bank: "",
            size_mib: 16384,
            form_factor: 0x09,
            memory_type: 0x1A,
            speed: 2666,
            configured_speed: 2400,
            manufacturer: "00AD063200AD",
            serial,
            part_number: "HMA82GR7CJR8N-VK",
        }));
    }
    for locator in ["A3", "B3"] {
        table.add(memory_device(&Dimm {
            locator,
            bank: "",
            size_mib: 0,
            form_factor: 0x09,
            memory_type: 0x02,
            speed: 0,
            configured_speed: 0,
            manufacturer: "",
            serial: "",
            part_number: "",
        }));
    }
    let table = table.finish();
    (entry_point_3(3, 2, table.len()), table)
}

/// A Lenovo ThinkPad X1 Carbon Gen 9 (i7-1165G7, 16 GiB soldered LPDDR4X); SMBIOS 3.2.
pub fn thinkpad_x1_gen9() -> (Vec<u8>, Vec<u8>) {
    let mut table = TableBuilder::default();
    table
        .add(bios("LENOVO", "N32ET86W (1.62 )", "08/29/2023", (1, 62)))
        .add(system(
            [
                "LENOVO",
                "20XW0055GE",
                "ThinkPad X1 Carbon Gen 9",
                "PF2XK7L9",
            ],
            "5b1d4e0c-2f7a-11b2-a85c-9e8d3c1f0a77",
            "LENOVO_MT_20XW_BU_Think_FM_ThinkPad X1 Carbon Gen 9",
            "ThinkPad X1 Carbon Gen 9",
        ))
        .add(
            baseboard("LENOVO", "20XW0055GE", "SDK0J40697 WIN", "L1HF16W0123")
                .string(0x08, "Not Available"),
        )
        .add(chassis("LENOVO", 0x0A, "PF2XK7L9").string(0x08, "No Asset Information"))
        .add(processor(
            "U3E1",
            "Intel(R) Corporation",
            "11th Gen Intel(R) Core(TM) i7-1165G7 @ 2.80GHz",
            4,
            8,
        ));
    for (locator, bank) in [
        ("Controller0-ChannelA-DIMM0", "BANK 0"),
        ("Controller1-ChannelA-DIMM0", "BANK 0"),
    ] {
        table.add(memory_device(&Dimm {
            locator,
            bank,
            size_mib: 8192,
            form_factor: 0x0B,
            memory_type: 0x1E,
            speed: 4267,
            configured_speed: 4267,
            manufacturer: "Samsung",
            serial: "00000000",
            part_number: "K4UBE3D4AA-MGCL",
        }));
    }
    let table = table.finish();
    (entry_point_3(3, 2, table.len()), table)
}

#[test]
fn committed_fixtures_match_the_builder() {
    let manifest = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let fixtures = manifest.join("../tests/fixtures");
    let smbios_dir = manifest.join("testdata/hardware/smbios");
    let tables = |root: &str| fixtures.join(root).join("sys/firmware/dmi/tables");
    let mut expected = Vec::new();
    for (dir, prefix, (entry_point, table)) in [
        (smbios_dir.clone(), "qemu-q35.", qemu_q35()),
        (smbios_dir.clone(), "dell-r640.", dell_r640()),
        (smbios_dir, "thinkpad-x1-gen9.", thinkpad_x1_gen9()),
        (tables("alpine"), "", qemu_q35()),
        (tables("debian"), "", dell_r640()),
        (tables("ubuntu"), "", thinkpad_x1_gen9()),
    ] {
        let (ep_name, table_name) = if prefix.is_empty() {
            ("smbios_entry_point".to_string(), "DMI".to_string())
        } else {
            (format!("{prefix}entry.bin"), format!("{prefix}bin"))
        };
        expected.push((dir.join(ep_name), entry_point));
        expected.push((dir.join(table_name), table));
    }
    for (path, bytes) in expected {
        if std::env::var_os("CENSUS_REGENERATE_FIXTURES").is_some() {
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, &bytes).unwrap();
        }
        let committed = std::fs::read(&path)
            .unwrap_or_else(|e| panic!("{}: {e}; regenerate the fixtures", path.display()));
        assert!(
            committed == bytes,
            "{} differs from the builder",
            path.display()
        );
    }
}

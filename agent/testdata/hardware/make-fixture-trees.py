#!/usr/bin/env python3
"""Writes the hardware files of the fixture machines under tests/fixtures/{debian,ubuntu,rhel,alpine,arch}.

Run from the repository root: `python3 agent/testdata/hardware/make-fixture-trees.py`. The SMBIOS tables
(sys/firmware/dmi/tables/*) are written by the agent's builder instead (see smbios_builder.rs). Values are
modelled on real machines: sysfs layout and symlinks as the kernel makes them; only files the agent reads.
"""
import os

ROOT = "tests/fixtures"
HERE = os.path.dirname(os.path.abspath(__file__))


def write(machine, path, content, mode="w"):
    full = os.path.join(ROOT, machine, path)
    os.makedirs(os.path.dirname(full), exist_ok=True)
    with open(full, mode) as f:
        f.write(content)


def link(machine, path, target):
    full = os.path.join(ROOT, machine, path)
    os.makedirs(os.path.dirname(full), exist_ok=True)
    if os.path.lexists(full):
        os.remove(full)
    os.symlink(target, full)


def dmi(machine, values):
    for name, value in values.items():
        write(machine, f"sys/class/dmi/id/{name}", value + "\n")


def meminfo(machine, total_kb, swap_kb):
    write(machine, "proc/meminfo",
          f"MemTotal:       {total_kb:>8} kB\nMemFree:        {total_kb // 2:>8} kB\n"
          f"MemAvailable:   {total_kb * 3 // 4:>8} kB\nBuffers:           81234 kB\n"
          f"Cached:         {total_kb // 5:>8} kB\nSwapCached:            0 kB\n"
          f"SwapTotal:      {swap_kb:>8} kB\nSwapFree:       {swap_kb:>8} kB\n")


def block(machine, name, devpath, attrs, device_attrs, device_link):
    """/sys/block/NAME -> ../devices/DEVPATH/NAME; DEVPATH/NAME/device -> device_link (relative)."""
    disk_dir = f"sys/devices/{devpath}/{name}"
    link(machine, f"sys/block/{name}", f"../devices/{devpath}/{name}")
    for attr, value in attrs.items():
        write(machine, f"{disk_dir}/{attr}", value if isinstance(value, str) else value, "w")
    link(machine, f"{disk_dir}/device", device_link)
    device_dir = os.path.normpath(os.path.join(disk_dir, device_link))
    for attr, value in device_attrs.items():
        if isinstance(value, bytes):
            write(machine, f"{device_dir}/{attr}", value, "wb")
        else:
            write(machine, f"{device_dir}/{attr}", value)


def virtual_block(machine, name):
    link(machine, f"sys/block/{name}", f"../devices/virtual/block/{name}")
    write(machine, f"sys/devices/virtual/block/{name}/size", "0\n")


def pci(machine, slot, parent, cls, vendor, device, subsys, rev, driver):
    devdir = f"sys/devices/{parent}/{slot}"
    link(machine, f"sys/bus/pci/devices/{slot}", f"../../../devices/{parent}/{slot}")
    for attr, value in [("class", cls), ("vendor", vendor), ("device", device),
                        ("subsystem_vendor", subsys[0]), ("subsystem_device", subsys[1]), ("revision", rev)]:
        write(machine, f"{devdir}/{attr}", value + "\n")
    if driver:
        depth = devdir.count("/") - 1
        link(machine, f"{devdir}/driver", "../" * depth + f"bus/pci/drivers/{driver}")


def usb(machine, name, parent, attrs):
    link(machine, f"sys/bus/usb/devices/{name}", f"../../../devices/{parent}/{name}")
    for attr, value in attrs.items():
        write(machine, f"sys/devices/{parent}/{name}/{attr}", value + "\n")


def topology(machine, cpus):
    for n, (package, core) in enumerate(cpus):
        write(machine, f"sys/devices/system/cpu/cpu{n}/topology/physical_package_id", f"{package}\n")
        write(machine, f"sys/devices/system/cpu/cpu{n}/topology/core_id", f"{core}\n")


def x86_cpuinfo(model_name, family, model, stepping, microcode, mhz, cpus, cores, extra_flags=""):
    flags = ("fpu vme de pse tsc msr pae mce cx8 apic sep mtrr pge mca cmov pat pse36 clflush mmx fxsr sse "
             "sse2 ss ht syscall nx pdpe1gb rdtscp lm constant_tsc arch_perfmon nopl xtopology tsc_reliable "
             "nonstop_tsc cpuid pni pclmulqdq ssse3 fma cx16 pcid sse4_1 sse4_2 x2apic movbe popcnt "
             "tsc_deadline_timer aes xsave avx f16c rdrand" + extra_flags + " lahf_lm abm 3dnowprefetch "
             "fsgsbase tsc_adjust bmi1 avx2 smep bmi2 invpcid avx512f avx512dq rdseed adx smap clflushopt "
             "clwb avx512cd avx512bw avx512vl xsaveopt xsavec xsaves arat pku ospke md_clear flush_l1d "
             "arch_capabilities")
    blocks = []
    siblings = sum(1 for p, _ in cpus if p == cpus[0][0])
    for n, (package, core) in enumerate(cpus):
        blocks.append(
            f"processor\t: {n}\nvendor_id\t: GenuineIntel\ncpu family\t: {family}\nmodel\t\t: {model}\n"
            f"model name\t: {model_name}\nstepping\t: {stepping}\nmicrocode\t: {microcode}\n"
            f"cpu MHz\t\t: {mhz}\ncache size\t: 36608 KB\nphysical id\t: {package}\nsiblings\t: {siblings}\n"
            f"core id\t\t: {core}\ncpu cores\t: {cores}\napicid\t\t: {n * 2}\ninitial apicid\t: {n * 2}\n"
            f"fpu\t\t: yes\nfpu_exception\t: yes\ncpuid level\t: 22\nwp\t\t: yes\nflags\t\t: {flags}\n"
            f"bogomips\t: 4988.26\nclflush size\t: 64\ncache_alignment\t: 64\n"
            f"address sizes\t: 45 bits physical, 48 bits virtual\npower management:\n")
    return "\n".join(blocks) + "\n"


def pci_ids(machine, path="usr/share/misc/pci.ids"):
    with open(os.path.join(HERE, "pci.ids.excerpt")) as f:
        write(machine, path, f.read())


def vpd80(serial):
    data = serial.encode()
    return bytes([0x00, 0x80, 0x00, len(data)]) + data


def debian():
    m = "debian"  # Dell PowerEdge R640, 2 x Xeon Silver 4110, 4 x 16 GiB, 2 SATA SSDs + 1 NVMe
    dmi(m, {"sys_vendor": "Dell Inc.", "product_name": "PowerEdge R640", "product_serial": "7XK9PQ2",
            "product_uuid": "4c4c4544-0037-5810-804b-b9c04f505132",
            "product_sku": "SKU=NotProvided;ModelName=PowerEdge R640", "product_family": "PowerEdge",
            "bios_vendor": "Dell Inc.", "bios_version": "2.19.1", "bios_date": "06/04/2023",
            "bios_release": "2.19", "board_vendor": "Dell Inc.", "board_name": "0H28RR", "board_version": "A06",
            "board_serial": ".7XK9PQ2.CNFCP0099T00EN.", "board_asset_tag": "", "chassis_vendor": "Dell Inc.",
            "chassis_type": "23", "chassis_serial": "7XK9PQ2", "chassis_asset_tag": ""})
    with open(os.path.join(HERE, "cpuinfo/x86-2socket-xeon-silver")) as f:
        write(m, "proc/cpuinfo", f.read())
    write(m, "sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq", "3000000\n")
    meminfo(m, 65524880, 8388604)
    for n, (name, serial, wwid) in enumerate([("sda", "PHYF8123004C480BGN", "naa.55cd2e414f6c6d9e"),
                                              ("sdb", "PHYF8123007H480BGN", "naa.55cd2e414f6c6da1")]):
        block(m, name, f"pci0000:00/0000:00:17.0/ata{n + 1}/host{n}/target{n}:0:0/{n}:0:0:0/block",
              {"size": "937703088\n", "removable": "0\n", "queue/rotational": "0\n"},
              {"vendor": "ATA     \n", "model": "INTEL SSDSC2KB48\n", "rev": "0132\n", "wwid": wwid + "\n",
               "vpd_pg80": vpd80(serial)}, f"../../../{n}:0:0:0")
    block(m, "nvme0n1", "pci0000:5d/0000:5d:02.0/0000:5f:00.0/nvme/nvme0",
          {"size": "3750748848\n", "removable": "0\n", "queue/rotational": "0\n",
           "wwid": "eui.36344730529001230025384500000001\n"},
          {"model": "SAMSUNG MZQL21T9HCJR-00A07              \n", "serial": "S64GNE0R900123      \n",
           "firmware_rev": "GDC5602Q\n"}, "../../nvme0")
    virtual_block(m, "loop0")
    virtual_block(m, "dm-0")
    pci(m, "0000:00:00.0", "pci0000:00", "0x060000", "0x8086", "0x2020", ("0x1028", "0x0716"), "0x04", None)
    pci(m, "0000:00:17.0", "pci0000:00", "0x010601", "0x8086", "0xa182", ("0x1028", "0x0716"), "0x09", "ahci")
    pci(m, "0000:5f:00.0", "pci0000:5d/0000:5d:02.0", "0x010802", "0x144d", "0xa80a", ("0x1028", "0x2203"),
        "0x00", "nvme")
    pci(m, "0000:19:00.0", "pci0000:17/0000:17:00.0", "0x020000", "0x8086", "0x1572", ("0x8086", "0x0007"),
        "0x02", "i40e")
    pci_ids(m)
    usb(m, "usb1", "pci0000:00/0000:00:14.0", {"idVendor": "1d6b", "idProduct": "0002", "bDeviceClass": "09"})
    usb(m, "1-14", "pci0000:00/0000:00:14.0/usb1",
        {"idVendor": "413c", "idProduct": "a102", "manufacturer": "Avocent", "product": "Keyboard/Mouse Function",
         "bDeviceClass": "00"})
    link(m, "sys/bus/usb/devices/1-14:1.0", "../../../devices/pci0000:00/0000:00:14.0/usb1/1-14/1-14:1.0")


def ubuntu():
    m = "ubuntu"  # Lenovo ThinkPad X1 Carbon Gen 9, i7-1165G7, NVMe + a USB stick, one battery
    dmi(m, {"sys_vendor": "LENOVO", "product_name": "20XW0055GE", "product_version": "ThinkPad X1 Carbon Gen 9",
            "product_serial": "PF2XK7L9", "product_uuid": "5b1d4e0c-2f7a-11b2-a85c-9e8d3c1f0a77",
            "product_sku": "LENOVO_MT_20XW_BU_Think_FM_ThinkPad X1 Carbon Gen 9",
            "product_family": "ThinkPad X1 Carbon Gen 9", "bios_vendor": "LENOVO",
            "bios_version": "N32ET86W (1.62 )", "bios_date": "08/29/2023", "bios_release": "1.62",
            "board_vendor": "LENOVO", "board_name": "20XW0055GE", "board_version": "SDK0J40697 WIN",
            "board_serial": "L1HF16W0123", "board_asset_tag": "Not Available", "chassis_vendor": "LENOVO",
            "chassis_type": "10", "chassis_serial": "PF2XK7L9", "chassis_asset_tag": "No Asset Information"})
    cpus = [(0, c) for c in range(4)] * 2
    write(m, "proc/cpuinfo", x86_cpuinfo("11th Gen Intel(R) Core(TM) i7-1165G7 @ 2.80GHz", 6, 140, 1, "0xb4",
                                         "1200.000", cpus, 4))
    topology(m, cpus)
    write(m, "sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq", "4700000\n")
    meminfo(m, 16012044, 2097148)
    block(m, "nvme0n1", "pci0000:00/0000:00:06.0/0000:04:00.0/nvme/nvme0",
          {"size": "1000215216\n", "removable": "0\n", "queue/rotational": "0\n",
           "wwid": "eui.002538b921b0c1d2\n"},
          {"model": "SAMSUNG MZVL2512HCJQ-00BL7              \n", "serial": "S64KNX0T512345      \n",
           "firmware_rev": "GXA7401Q\n"}, "../../nvme0")
    block(m, "sda", "pci0000:00/0000:00:14.0/usb2/2-1/2-1:1.0/host0/target0:0:0/0:0:0:0/block",
          {"size": "60063744\n", "removable": "1\n", "queue/rotational": "1\n"},
          {"vendor": "SanDisk \n", "model": "Ultra Fit       \n", "rev": "1.00\n"}, "../../../0:0:0:0")
    pci(m, "0000:04:00.0", "pci0000:00/0000:00:06.0", "0x010802", "0x144d", "0xa80a", ("0x144d", "0xa801"),
        "0x00", "nvme")
    pci(m, "0000:00:14.0", "pci0000:00", "0x0c0330", "0x8086", "0xa0ed", ("0x17aa", "0x22d5"), "0x20",
        "xhci_hcd")
    pci(m, "0000:00:14.3", "pci0000:00", "0x028000", "0x8086", "0xa0f0", ("0x8086", "0x0244"), "0x20",
        "iwlwifi")
    pci_ids(m)
    hub = "pci0000:00/0000:00:14.0"
    usb(m, "usb2", hub, {"idVendor": "1d6b", "idProduct": "0003", "bDeviceClass": "09"})
    usb(m, "2-1", f"{hub}/usb2", {"idVendor": "0781", "idProduct": "5583", "manufacturer": "SanDisk",
                                  "product": "Ultra Fit", "serial": "4C530001230315116323", "bDeviceClass": "00"})
    usb(m, "3-3", f"{hub}/usb3", {"idVendor": "04f2", "idProduct": "b6ea", "manufacturer": "Chicony Electronics Co.,Ltd.",
                                  "product": "Integrated Camera", "serial": "0001", "bDeviceClass": "ef"})
    usb(m, "3-10", f"{hub}/usb3", {"idVendor": "8087", "idProduct": "0026", "bDeviceClass": "e0"})
    link(m, "sys/bus/usb/devices/2-1:1.0", f"../../../devices/{hub}/usb2/2-1/2-1:1.0")
    for name, attrs in [("AC", {"type": "Mains", "online": "1"}),
                        ("BAT0", {"type": "Battery", "manufacturer": "SMP", "model_name": "5B10W13975",
                                  "serial_number": " 1234", "technology": "Li-poly",
                                  "energy_full_design": "57000000", "energy_full": "51390000",
                                  "voltage_min_design": "15440000"})]:
        for attr, value in attrs.items():
            write(m, f"sys/devices/LNXSYSTM:00/LNXSYBUS:00/PNP0C0A:00/power_supply/{name}/{attr}", value + "\n")
        link(m, f"sys/class/power_supply/{name}",
             f"../../devices/LNXSYSTM:00/LNXSYBUS:00/PNP0C0A:00/power_supply/{name}")


def rhel():
    m = "rhel"  # VMware ESXi 8 VM, 4 vSockets x 1 core, PVSCSI disk, no raw SMBIOS table in the tree
    dmi(m, {"sys_vendor": "VMware, Inc.", "product_name": "VMware7,1", "product_version": "None",
            "product_serial": "VMware-42 1a 2b 3c 4d 5e 6f 70-81 92 a3 b4 c5 d6 e7 f8",
            "product_uuid": "421a2b3c-4d5e-6f70-8192-a3b4c5d6e7f8", "product_sku": "", "product_family": "",
            "bios_vendor": "VMware, Inc.", "bios_version": "VMW71.00V.21100432.B64.2301110304",
            "bios_date": "01/11/2023", "bios_release": "4.6", "board_vendor": "Intel Corporation",
            "board_name": "440BX Desktop Reference Platform", "board_version": "None", "board_serial": "None",
            "board_asset_tag": "", "chassis_vendor": "No Enclosure", "chassis_type": "1",
            "chassis_serial": "None", "chassis_asset_tag": "No Asset Tag"})
    write(m, "proc/cpuinfo", x86_cpuinfo("Intel(R) Xeon(R) Gold 6248 CPU @ 2.50GHz", 6, 85, 7, "0x5003604",
                                         "2494.140", [(0, 0), (2, 0), (4, 0), (6, 0)], 1, " hypervisor"))
    meminfo(m, 7862284, 4194300)
    block(m, "sda", "pci0000:00/0000:00:15.0/0000:03:00.0/host2/target2:0:0/2:0:0:0/block",
          {"size": "104857600\n", "removable": "0\n", "queue/rotational": "1\n"},
          {"vendor": "VMware  \n", "model": "Virtual disk    \n", "rev": "2.0 \n"}, "../../../2:0:0:0")
    block(m, "sr0", "pci0000:00/0000:00:07.1/ata2/host1/target1:0:0/1:0:0:0/block",
          {"size": "0\n", "removable": "1\n", "queue/rotational": "1\n"},
          {"vendor": "NECVMWar\n", "model": "VMware SATA CD00\n", "rev": "1.00\n"}, "../../../1:0:0:0")
    virtual_block(m, "dm-0")
    pci(m, "0000:03:00.0", "pci0000:00/0000:00:15.0", "0x010700", "0x15ad", "0x07c0", ("0x15ad", "0x07c0"),
        "0x02", "vmw_pvscsi")
    pci(m, "0000:0b:00.0", "pci0000:00/0000:00:16.0", "0x020000", "0x15ad", "0x07b0", ("0x15ad", "0x07b0"),
        "0x01", "vmxnet3")
    pci(m, "0000:00:0f.0", "pci0000:00", "0x030000", "0x15ad", "0x0405", ("0x15ad", "0x0405"), "0x00",
        "vmwgfx")
    pci_ids(m, "usr/share/hwdata/pci.ids")


def alpine():
    m = "alpine"  # QEMU 8.2 q35 + KVM, 2 vCPUs, 2 GiB, one virtio disk
    dmi(m, {"sys_vendor": "QEMU", "product_name": "Standard PC (Q35 + ICH9, 2009)",
            "product_version": "pc-q35-8.2", "product_serial": "",
            "product_uuid": "9a3e0f1c-52b4-4e8e-a0d1-6c2f6b1e7d42", "bios_vendor": "SeaBIOS",
            "bios_version": "1.16.3-debian-1.16.3-2", "bios_date": "04/01/2014", "bios_release": "0.0",
            "chassis_vendor": "QEMU", "chassis_type": "1", "chassis_version": "pc-q35-8.2"})
    with open(os.path.join(HERE, "cpuinfo/x86-xeon-vm")) as f:
        write(m, "proc/cpuinfo", f.read())
    meminfo(m, 2014256, 0)
    write(m, "sys/devices/system/clocksource/clocksource0/available_clocksource", "kvm-clock tsc acpi_pm \n")
    block(m, "vda", "pci0000:00/0000:00:02.0/virtio1/block",
          {"size": "41943040\n", "removable": "0\n", "queue/rotational": "1\n", "serial": "census-root\n"},
          {"vendor": "0x1af4\n"}, "../../../virtio1")
    virtual_block(m, "loop0")
    virtual_block(m, "zram0")
    pci(m, "0000:00:00.0", "pci0000:00", "0x060000", "0x8086", "0x29c0", ("0x1af4", "0x1100"), "0x00", None)
    pci(m, "0000:00:01.0", "pci0000:00", "0x020000", "0x1af4", "0x1041", ("0x1af4", "0x1100"), "0x01",
        "virtio-pci")
    pci(m, "0000:00:02.0", "pci0000:00", "0x010000", "0x1af4", "0x1042", ("0x1af4", "0x1100"), "0x01",
        "virtio-pci")
    pci(m, "0000:00:1f.2", "pci0000:00", "0x010601", "0x8086", "0x2922", ("0x1af4", "0x1100"), "0x02", "ahci")


def arch():
    m = "arch"  # Raspberry Pi 4 Model B (arm64, no DMI), SD card, VL805 USB controller
    with open(os.path.join(HERE, "cpuinfo/arm64-raspberry-pi-4")) as f:
        write(m, "proc/cpuinfo", f.read())
    topology(m, [(0, c) for c in range(4)])
    write(m, "sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq", "1800000\n")
    meminfo(m, 3884096, 0)
    block(m, "mmcblk0", "platform/emmc2bus/fe340000.mmc/mmc_host/mmc0/mmc0:aaaa/block",
          {"size": "124735488\n", "removable": "0\n", "queue/rotational": "0\n"},
          {"name": "SC64G\n", "serial": "0x1a2b3c4d\n", "fwrev": "0x0\n"}, "../../../mmc0:aaaa")
    pci(m, "0000:00:00.0", "platform/scb/fd500000.pcie/pci0000:00", "0x060400", "0x14e4", "0x2711",
        ("0x0000", "0x0000"), "0x20", "pcieport")
    pci(m, "0000:01:00.0", "platform/scb/fd500000.pcie/pci0000:00/0000:00:00.0", "0x0c0330", "0x1106",
        "0x3483", ("0x1106", "0x3483"), "0x01", "xhci_hcd")
    hub = "platform/scb/fd500000.pcie/pci0000:00/0000:00:00.0/0000:01:00.0"
    usb(m, "usb1", hub, {"idVendor": "1d6b", "idProduct": "0002", "bDeviceClass": "09"})
    usb(m, "1-1", f"{hub}/usb1", {"idVendor": "2109", "idProduct": "3431", "product": "USB2.0 Hub",
                                  "bDeviceClass": "09"})


if __name__ == "__main__":
    for machine in (debian, ubuntu, rhel, alpine, arch):
        machine()

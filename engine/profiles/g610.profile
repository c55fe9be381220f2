# Mali-G610 MP4 on Rockchip RK3588 (Rock 5B, Orange Pi 5, ...): the default.
# Registers are whole-register values, as DEV_QUERY GPU_INFO reports them.
# Sources: spec 3.8 / 7.1 (RK3588 boot logs on dri-devel: "mali-g610 id 0xa867
# major 0x0 minor 0x0 status 0x5", "L2:0x7120306 Tiler:0x809 Mem:0x301
# MMU:0x2830 AS:0xff", shader_present 0x50005; Mesa drm-shim values dumped from
# a G610: csf_id 0x40a0412, CSIF 8/8/96/8).
id = g610
name = Mali-G610 MP4 (RK3588)
gpu_id = 0xa8670005
gpu_rev = 0x0
csf_id = 0x40a0412
l2_features = 0x07120306
tiler_features = 0x809
mem_features = 0x301
mmu_features = 0x2830
thread_features = 0x4010000
max_threads = 0x800
thread_max_workgroup_size = 0x400
thread_max_barrier_size = 0x400
coherency_features = 0x0
texture_features = 0xc1ffff9e, 0x0, 0x0, 0x0
as_present = 0xff
shader_present = 0x50005
l2_present = 0x1
tiler_present = 0x1
core_features = 0x0
csg_slot_count = 8
cs_slot_count = 8
cs_reg_count = 96
scoreboard_slot_count = 8
unpreserved_cs_reg_count = 4
# The RK3588's GPU OPP table (rk3588s.dtsi gpu_opp_table): 300 MHz to 1 GHz.
opp_hz = 300000000, 400000000, 500000000, 600000000, 700000000, 800000000, 900000000, 1000000000
# The RK3588's arch timer runs at 24 MHz.
timestamp_frequency = 24000000
# 8 GiB of RAM (the common Rock 5B / Orange Pi 5 configuration).
ram_bytes = 0x200000000
# TASK_SIZE of an arm64 process with 48-bit VA (4 KiB pages).
task_size = 0x1000000000000
unique = fb000000.gpu
compatible = rockchip,rk3588-mali
# Cost model (integer ns, min..max, jitter from the seeded PRNG). Every value
# is modelled: docs/cost-model.md gives the source or reasoning for each.
cost.irq_entry_ns = 1500..4000
cost.workqueue_delay_ns = 5000..30000
cost.page_alloc_ns = 250..700
cost.huge_alloc_ns = 198000..295000
cost.metadata_alloc_ns = 11..200
cost.pte_update_ns = 10..40
cost.flush_ns = 3000..12000
cost.reclaim_page_ns = 400..1500
cost.kswapd_wakeup_ns = 50000..200000
cost.gpu_page_access_ns = 100..200
cost.job_launch_ns = 5000..20000
cost.sched_tick_ns = 1000..5000
cost.heap_grow_ns = 20000..50000
cost.bind_job_ns = 2300
# Not in the sources above: plausible values, marked as such.
invented = thread_features, max_threads, thread_max_workgroup_size, thread_max_barrier_size, coherency_features, texture_features, core_features, unpreserved_cs_reg_count

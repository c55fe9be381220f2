# Mali-G925 (5th-gen arch, phone-class SoC). Sources: spec 3.8 (product id
# 0xd830 and "MMU:0x2830 AS:0xff" seen on a G925 boot log). Everything else is
# invented to give a large-core, large-memory contrast to g610: approximate.
id = g925
name = Mali-G925 MC12, approximate
gpu_id = 0xd8300000
gpu_rev = 0x0
csf_id = 0x40b0000
l2_features = 0x07130306
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
shader_present = 0xfff
l2_present = 0x1
tiler_present = 0x1
core_features = 0x0
csg_slot_count = 8
cs_slot_count = 8
cs_reg_count = 96
scoreboard_slot_count = 8
unpreserved_cs_reg_count = 4
opp_hz = 400000000, 600000000, 800000000, 1000000000, 1200000000
timestamp_frequency = 26000000
ram_bytes = 0x300000000
task_size = 0x1000000000000
unique = 13000000.gpu
compatible = arm,mali-valhall-csf
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
invented = opp_hz, gpu_id, csf_id, l2_features, thread_features, max_threads, thread_max_workgroup_size, thread_max_barrier_size, coherency_features, texture_features, shader_present, core_features, csg_slot_count, cs_slot_count, cs_reg_count, scoreboard_slot_count, unpreserved_cs_reg_count, timestamp_frequency, ram_bytes, unique

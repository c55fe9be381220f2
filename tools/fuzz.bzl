"""faultlab_fuzz: one libFuzzer target and its regression test.

    faultlab_fuzz(name = "reader_fuzz", srcs = ["reader_fuzz.cc"], deps = [...])

makes
  NAME             the libFuzzer binary (tags fuzz, manual): `./lab fuzz`
                   builds it with --config=fuzz (clang, ASan + UBSan) and runs
                   it from the seeds in fuzz/NAME/ of this package, keeping
                   what it finds there;
  NAME_regression  a test (in `./lab test`, under ASan in the ASan tier when
                   in engine/) that runs the same function over every file in
                   fuzz/NAME/: the seeds and every crash ever found.
SRCS define LLVMFuzzerTestOneInput (and may define LLVMFuzzerInitialize).
"""

def faultlab_fuzz(name, srcs, deps = [], size = "small"):
    native.cc_binary(
        name = name,
        testonly = True,
        srcs = srcs,
        deps = deps,
        tags = ["fuzz", "manual"],
    )
    native.cc_test(
        name = name + "_regression",
        size = size,
        srcs = srcs,
        deps = deps + ["//tools/fuzz:driver"],
        data = native.glob(["fuzz/" + name + "/**"]),
        args = [native.package_name() + "/fuzz/" + name],
    )

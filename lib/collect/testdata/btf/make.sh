#!/usr/bin/env bash
# Regenerates the BTF fixtures with Debian's pahole (dwarves) from the C
# files beside it: vmlinux.btf (base) and panthor.btf (split BTF over it,
# as /sys/kernel/btf/panthor is over /sys/kernel/btf/vmlinux), and
# panthor-offsets.txt, the offsets the compiler gave (the test's truth).
set -euo pipefail
cd "$(dirname "$0")"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for f in vmlinux panthor; do gcc -g -c -O0 -o "$tmp/$f.o" "$f.c"; done
pahole --btf_encode_detached vmlinux.btf "$tmp/vmlinux.o"
pahole --btf_encode_detached panthor.btf --btf_base vmlinux.btf "$tmp/panthor.o"
cat >"$tmp/offsets.c" <<'C'
#include <stddef.h>
#include <stdio.h>
#include "panthor.c"
int main(void) {
  printf("work %zu\nstatus %zu\naddr %zu\nas_id %zu\n", offsetof(struct panthor_vm, fault.work),
         offsetof(struct panthor_vm, fault.status), offsetof(struct panthor_vm, fault.addr),
         offsetof(struct panthor_vm, as.id));
  return 0;
}
C
gcc -I. -o "$tmp/offsets" "$tmp/offsets.c"
"$tmp/offsets" >panthor-offsets.txt

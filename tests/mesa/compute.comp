// The Mesa tier's compute pass (tests/mesa/vk_compute.c): out = in * scale
// + offset over `count` elements, one invocation each.
#version 450
layout(local_size_x = 64) in;
layout(std430, set = 0, binding = 0) readonly buffer In { uint data_in[]; };
layout(std430, set = 0, binding = 1) writeonly buffer Out { uint data_out[]; };
layout(push_constant) uniform Params { uint count; uint scale; uint offset; };
void main() {
  uint i = gl_GlobalInvocationID.x;
  if (i < count) data_out[i] = data_in[i] * scale + offset;
}

// The Mesa tier's Vulkan draws (tests/mesa/vk_render.c): positions from the
// vertex buffer, scaled by the frame's push constant.
#version 450
layout(location = 0) in vec2 pos;
layout(push_constant) uniform Frame { float scale; };
void main() { gl_Position = vec4(pos * scale, 0.0, 1.0); }

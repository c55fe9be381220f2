// The Mesa tier's Vulkan draws (tests/mesa/vk_render.c): one colour.
#version 450
layout(location = 0) out vec4 color;
void main() { color = vec4(gl_FragCoord.x / 256.0, gl_FragCoord.y / 256.0, 0.5, 1.0); }

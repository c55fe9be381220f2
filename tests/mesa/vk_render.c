// vk_render: the Mesa tier's Vulkan render loop (docs/mesa.md). Written
// against Vulkan only, headless: a 256x256 RGBA8 colour image in a render
// pass, and `--frames N` frames each drawing a growing share of a grid of
// triangles (render.vert / render.frag), the image copied into a host
// buffer and summed. The twin runs no shaders, so the sum is printed, not
// checked.
//
//   vk_render VERT_SPV FRAG_SPV [--frames N]
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vk_setup.h"

enum { kSize = 256, kGrid = 256, kMaxTris = kGrid * kGrid * 2 };

int main(int argc, char** argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: vk_render VERT_SPV FRAG_SPV [--frames N]\n");
    return 2;
  }
  int frames = 8;
  for (int i = 3; i < argc; ++i) {
    if (!strcmp(argv[i], "--frames") && i + 1 < argc) {
      frames = atoi(argv[++i]);
    } else {
      fprintf(stderr, "vk_render: unknown argument %s\n", argv[i]);
      return 2;
    }
  }
  struct VkSetup vk = VkSetupDevice("vk_render", VK_QUEUE_GRAPHICS_BIT);
  VkDevice dev = vk.dev;

  // The colour image, its view, a render pass and a framebuffer.
  VkImageCreateInfo ii = {
      .sType = VK_STRUCTURE_TYPE_IMAGE_CREATE_INFO,
      .imageType = VK_IMAGE_TYPE_2D,
      .format = VK_FORMAT_R8G8B8A8_UNORM,
      .extent = {kSize, kSize, 1},
      .mipLevels = 1,
      .arrayLayers = 1,
      .samples = VK_SAMPLE_COUNT_1_BIT,
      .tiling = VK_IMAGE_TILING_OPTIMAL,
      .usage = VK_IMAGE_USAGE_COLOR_ATTACHMENT_BIT | VK_IMAGE_USAGE_TRANSFER_SRC_BIT,
      .initialLayout = VK_IMAGE_LAYOUT_UNDEFINED};
  VkImage image;
  CHECK(vkCreateImage(dev, &ii, NULL, &image));
  VkMemoryRequirements ireq;
  vkGetImageMemoryRequirements(dev, image, &ireq);
  VkDeviceMemory image_mem = VkSetupMemory(&vk, ireq, 0);
  CHECK(vkBindImageMemory(dev, image, image_mem, 0));
  VkImageViewCreateInfo vi = {.sType = VK_STRUCTURE_TYPE_IMAGE_VIEW_CREATE_INFO,
                              .image = image,
                              .viewType = VK_IMAGE_VIEW_TYPE_2D,
                              .format = VK_FORMAT_R8G8B8A8_UNORM,
                              .subresourceRange = {VK_IMAGE_ASPECT_COLOR_BIT, 0, 1, 0, 1}};
  VkImageView view;
  CHECK(vkCreateImageView(dev, &vi, NULL, &view));
  VkAttachmentDescription att = {.format = VK_FORMAT_R8G8B8A8_UNORM,
                                 .samples = VK_SAMPLE_COUNT_1_BIT,
                                 .loadOp = VK_ATTACHMENT_LOAD_OP_CLEAR,
                                 .storeOp = VK_ATTACHMENT_STORE_OP_STORE,
                                 .stencilLoadOp = VK_ATTACHMENT_LOAD_OP_DONT_CARE,
                                 .stencilStoreOp = VK_ATTACHMENT_STORE_OP_DONT_CARE,
                                 .initialLayout = VK_IMAGE_LAYOUT_UNDEFINED,
                                 .finalLayout = VK_IMAGE_LAYOUT_TRANSFER_SRC_OPTIMAL};
  VkAttachmentReference ref = {0, VK_IMAGE_LAYOUT_COLOR_ATTACHMENT_OPTIMAL};
  VkSubpassDescription sub = {.pipelineBindPoint = VK_PIPELINE_BIND_POINT_GRAPHICS,
                              .colorAttachmentCount = 1,
                              .pColorAttachments = &ref};
  VkRenderPassCreateInfo rpi = {.sType = VK_STRUCTURE_TYPE_RENDER_PASS_CREATE_INFO,
                                .attachmentCount = 1,
                                .pAttachments = &att,
                                .subpassCount = 1,
                                .pSubpasses = &sub};
  VkRenderPass pass;
  CHECK(vkCreateRenderPass(dev, &rpi, NULL, &pass));
  VkFramebufferCreateInfo fbi = {.sType = VK_STRUCTURE_TYPE_FRAMEBUFFER_CREATE_INFO,
                                 .renderPass = pass,
                                 .attachmentCount = 1,
                                 .pAttachments = &view,
                                 .width = kSize,
                                 .height = kSize,
                                 .layers = 1};
  VkFramebuffer fb;
  CHECK(vkCreateFramebuffer(dev, &fbi, NULL, &fb));

  // The pipeline: a vec2 per vertex, triangles, the whole image.
  VkPushConstantRange pcr = {VK_SHADER_STAGE_VERTEX_BIT, 0, sizeof(float)};
  VkPipelineLayoutCreateInfo pli = {.sType = VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO,
                                    .pushConstantRangeCount = 1,
                                    .pPushConstantRanges = &pcr};
  VkPipelineLayout layout;
  CHECK(vkCreatePipelineLayout(dev, &pli, NULL, &layout));
  VkShaderModule vs = VkSetupShader(&vk, argv[1]), fs = VkSetupShader(&vk, argv[2]);
  VkPipelineShaderStageCreateInfo stages[2] = {
      {.sType = VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO,
       .stage = VK_SHADER_STAGE_VERTEX_BIT,
       .module = vs,
       .pName = "main"},
      {.sType = VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO,
       .stage = VK_SHADER_STAGE_FRAGMENT_BIT,
       .module = fs,
       .pName = "main"}};
  VkVertexInputBindingDescription bind = {0, 2 * sizeof(float), VK_VERTEX_INPUT_RATE_VERTEX};
  VkVertexInputAttributeDescription attr = {0, 0, VK_FORMAT_R32G32_SFLOAT, 0};
  VkPipelineVertexInputStateCreateInfo vin = {
      .sType = VK_STRUCTURE_TYPE_PIPELINE_VERTEX_INPUT_STATE_CREATE_INFO,
      .vertexBindingDescriptionCount = 1,
      .pVertexBindingDescriptions = &bind,
      .vertexAttributeDescriptionCount = 1,
      .pVertexAttributeDescriptions = &attr};
  VkPipelineInputAssemblyStateCreateInfo ia = {
      .sType = VK_STRUCTURE_TYPE_PIPELINE_INPUT_ASSEMBLY_STATE_CREATE_INFO,
      .topology = VK_PRIMITIVE_TOPOLOGY_TRIANGLE_LIST};
  VkViewport vp = {0, 0, kSize, kSize, 0, 1};
  VkRect2D sc = {{0, 0}, {kSize, kSize}};
  VkPipelineViewportStateCreateInfo vps = {
      .sType = VK_STRUCTURE_TYPE_PIPELINE_VIEWPORT_STATE_CREATE_INFO,
      .viewportCount = 1,
      .pViewports = &vp,
      .scissorCount = 1,
      .pScissors = &sc};
  VkPipelineRasterizationStateCreateInfo rs = {
      .sType = VK_STRUCTURE_TYPE_PIPELINE_RASTERIZATION_STATE_CREATE_INFO,
      .polygonMode = VK_POLYGON_MODE_FILL,
      .cullMode = VK_CULL_MODE_NONE,
      .frontFace = VK_FRONT_FACE_COUNTER_CLOCKWISE,
      .lineWidth = 1.0f};
  VkPipelineMultisampleStateCreateInfo ms = {
      .sType = VK_STRUCTURE_TYPE_PIPELINE_MULTISAMPLE_STATE_CREATE_INFO,
      .rasterizationSamples = VK_SAMPLE_COUNT_1_BIT};
  VkPipelineColorBlendAttachmentState blend = {.colorWriteMask = 0xf};
  VkPipelineColorBlendStateCreateInfo cb = {
      .sType = VK_STRUCTURE_TYPE_PIPELINE_COLOR_BLEND_STATE_CREATE_INFO,
      .attachmentCount = 1,
      .pAttachments = &blend};
  VkGraphicsPipelineCreateInfo gpi = {.sType = VK_STRUCTURE_TYPE_GRAPHICS_PIPELINE_CREATE_INFO,
                                      .stageCount = 2,
                                      .pStages = stages,
                                      .pVertexInputState = &vin,
                                      .pInputAssemblyState = &ia,
                                      .pViewportState = &vps,
                                      .pRasterizationState = &rs,
                                      .pMultisampleState = &ms,
                                      .pColorBlendState = &cb,
                                      .layout = layout,
                                      .renderPass = pass};
  VkPipeline pipe;
  CHECK(vkCreateGraphicsPipelines(dev, VK_NULL_HANDLE, 1, &gpi, NULL, &pipe));

  // Vertices: a grid of small triangles; frame f draws (f + 1) / frames of them.
  VkDeviceMemory vmem, rmem;
  const VkDeviceSize vbytes = (VkDeviceSize)kMaxTris * 3 * 2 * sizeof(float);
  VkBuffer vbuf = VkSetupHostBuffer(&vk, vbytes, VK_BUFFER_USAGE_VERTEX_BUFFER_BIT, &vmem);
  float* v;
  CHECK(vkMapMemory(dev, vmem, 0, vbytes, 0, (void**)&v));
  for (int y = 0; y < kGrid; ++y) {
    for (int x = 0; x < kGrid; ++x) {
      const float x0 = -1 + 2.0f * x / kGrid, y0 = -1 + 2.0f * y / kGrid, d = 2.0f / kGrid;
      const float q[12] = {x0, y0, x0 + d, y0, x0, y0 + d, x0 + d, y0, x0 + d, y0 + d, x0, y0 + d};
      memcpy(v, q, sizeof(q));
      v += 12;
    }
  }
  vkUnmapMemory(dev, vmem);
  VkBuffer rbuf =
      VkSetupHostBuffer(&vk, kSize * kSize * 4, VK_BUFFER_USAGE_TRANSFER_DST_BIT, &rmem);

  VkCommandPoolCreateInfo cpi = {.sType = VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO,
                                 .flags = VK_COMMAND_POOL_CREATE_RESET_COMMAND_BUFFER_BIT,
                                 .queueFamilyIndex = vk.family};
  VkCommandPool cmd_pool;
  CHECK(vkCreateCommandPool(dev, &cpi, NULL, &cmd_pool));
  VkCommandBufferAllocateInfo cbai = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO,
                                      .commandPool = cmd_pool,
                                      .level = VK_COMMAND_BUFFER_LEVEL_PRIMARY,
                                      .commandBufferCount = 1};
  VkCommandBuffer cmd;
  CHECK(vkAllocateCommandBuffers(dev, &cbai, &cmd));
  VkFenceCreateInfo fci = {.sType = VK_STRUCTURE_TYPE_FENCE_CREATE_INFO};
  VkFence fence;
  CHECK(vkCreateFence(dev, &fci, NULL, &fence));

  uint64_t sum = 0;
  for (int f = 0; f < frames; ++f) {
    VkCommandBufferBeginInfo begin = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO,
                                      .flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT};
    CHECK(vkBeginCommandBuffer(cmd, &begin));
    VkClearValue clear = {.color = {.float32 = {0.1f * (f % 10), 0.2f, 0.3f, 1.0f}}};
    VkRenderPassBeginInfo rb = {.sType = VK_STRUCTURE_TYPE_RENDER_PASS_BEGIN_INFO,
                                .renderPass = pass,
                                .framebuffer = fb,
                                .renderArea = {{0, 0}, {kSize, kSize}},
                                .clearValueCount = 1,
                                .pClearValues = &clear};
    vkCmdBeginRenderPass(cmd, &rb, VK_SUBPASS_CONTENTS_INLINE);
    vkCmdBindPipeline(cmd, VK_PIPELINE_BIND_POINT_GRAPHICS, pipe);
    VkDeviceSize zero = 0;
    vkCmdBindVertexBuffers(cmd, 0, 1, &vbuf, &zero);
    const float scale = 0.5f + 0.5f * (float)f / (float)(frames > 1 ? frames - 1 : 1);
    vkCmdPushConstants(cmd, layout, VK_SHADER_STAGE_VERTEX_BIT, 0, sizeof(scale), &scale);
    const uint32_t tris = (uint32_t)((uint64_t)kMaxTris * (uint64_t)(f + 1) / (uint64_t)frames);
    vkCmdDraw(cmd, tris * 3, 1, 0, 0);
    vkCmdEndRenderPass(cmd);
    VkBufferImageCopy copy = {.imageSubresource = {VK_IMAGE_ASPECT_COLOR_BIT, 0, 0, 1},
                              .imageExtent = {kSize, kSize, 1}};
    vkCmdCopyImageToBuffer(cmd, image, VK_IMAGE_LAYOUT_TRANSFER_SRC_OPTIMAL, rbuf, 1, &copy);
    CHECK(vkEndCommandBuffer(cmd));
    VkSubmitInfo si = {
        .sType = VK_STRUCTURE_TYPE_SUBMIT_INFO, .commandBufferCount = 1, .pCommandBuffers = &cmd};
    CHECK(vkQueueSubmit(vk.queue, 1, &si, fence));
    CHECK(vkWaitForFences(dev, 1, &fence, VK_TRUE, UINT64_MAX));
    CHECK(vkResetFences(dev, 1, &fence));
    uint8_t* px;
    CHECK(vkMapMemory(dev, rmem, 0, kSize * kSize * 4, 0, (void**)&px));
    for (int i = 0; i < kSize * kSize * 4; i += 97) sum += px[i];
    vkUnmapMemory(dev, rmem);
  }
  printf("frames: %d, read-back sum: %llu\n", frames, (unsigned long long)sum);

  vkDestroyFence(dev, fence, NULL);
  vkDestroyCommandPool(dev, cmd_pool, NULL);
  vkDestroyBuffer(dev, vbuf, NULL);
  vkDestroyBuffer(dev, rbuf, NULL);
  vkFreeMemory(dev, vmem, NULL);
  vkFreeMemory(dev, rmem, NULL);
  vkDestroyPipeline(dev, pipe, NULL);
  vkDestroyShaderModule(dev, vs, NULL);
  vkDestroyShaderModule(dev, fs, NULL);
  vkDestroyPipelineLayout(dev, layout, NULL);
  vkDestroyFramebuffer(dev, fb, NULL);
  vkDestroyRenderPass(dev, pass, NULL);
  vkDestroyImageView(dev, view, NULL);
  vkDestroyImage(dev, image, NULL);
  vkFreeMemory(dev, image_mem, NULL);
  vkDestroyDevice(dev, NULL);
  vkDestroyInstance(vk.inst, NULL);
  return 0;
}

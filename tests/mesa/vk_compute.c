// vk_compute: the Mesa tier's Vulkan compute loop (docs/mesa.md). Written
// against Vulkan only, headless: one compute queue, two storage buffers of
// 4 MiB, and `--passes N` dispatches of a shader (compute.comp) whose size
// varies pass to pass; with --secondary each pass's dispatch is recorded
// in a secondary command buffer the primary executes (panvk CALLs it). The
// output buffer is read back and summed; the twin runs no shaders, so the
// sum is printed, not checked.
//
//   vk_compute SPV [--passes N] [--secondary]
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vk_setup.h"

enum { kElements = 1 << 20, kBytes = kElements * 4 };

struct Params {
  uint32_t count, scale, offset;
};

static void RecordDispatch(VkCommandBuffer cb, VkPipeline pipe, VkPipelineLayout layout,
                           VkDescriptorSet set, uint32_t count, uint32_t pass) {
  vkCmdBindPipeline(cb, VK_PIPELINE_BIND_POINT_COMPUTE, pipe);
  vkCmdBindDescriptorSets(cb, VK_PIPELINE_BIND_POINT_COMPUTE, layout, 0, 1, &set, 0, NULL);
  struct Params p = {count, 3 + pass, pass};
  vkCmdPushConstants(cb, layout, VK_SHADER_STAGE_COMPUTE_BIT, 0, sizeof(p), &p);
  vkCmdDispatch(cb, (count + 63) / 64, 1, 1);
}

int main(int argc, char** argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: vk_compute SPV [--passes N] [--secondary]\n");
    return 2;
  }
  uint32_t passes = 8;
  int secondary = 0;
  for (int i = 2; i < argc; ++i) {
    if (!strcmp(argv[i], "--passes") && i + 1 < argc) {
      passes = (uint32_t)atoi(argv[++i]);
    } else if (!strcmp(argv[i], "--secondary")) {
      secondary = 1;
    } else {
      fprintf(stderr, "vk_compute: unknown argument %s\n", argv[i]);
      return 2;
    }
  }

  struct VkSetup vk = VkSetupDevice("vk_compute", VK_QUEUE_COMPUTE_BIT);
  VkDevice dev = vk.dev;

  VkBuffer in_buf, out_buf;
  VkDeviceMemory in_mem, out_mem;
  in_buf = VkSetupHostBuffer(&vk, kBytes, VK_BUFFER_USAGE_STORAGE_BUFFER_BIT, &in_mem);
  out_buf = VkSetupHostBuffer(&vk, kBytes, VK_BUFFER_USAGE_STORAGE_BUFFER_BIT, &out_mem);
  uint32_t* in;
  CHECK(vkMapMemory(dev, in_mem, 0, kBytes, 0, (void**)&in));
  for (uint32_t i = 0; i < kElements; ++i) in[i] = i;
  vkUnmapMemory(dev, in_mem);

  VkDescriptorSetLayoutBinding binds[2] = {
      {0, VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, 1, VK_SHADER_STAGE_COMPUTE_BIT, NULL},
      {1, VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, 1, VK_SHADER_STAGE_COMPUTE_BIT, NULL}};
  VkDescriptorSetLayoutCreateInfo dsl = {
      .sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_LAYOUT_CREATE_INFO,
      .bindingCount = 2,
      .pBindings = binds};
  VkDescriptorSetLayout set_layout;
  CHECK(vkCreateDescriptorSetLayout(dev, &dsl, NULL, &set_layout));
  VkPushConstantRange pcr = {VK_SHADER_STAGE_COMPUTE_BIT, 0, sizeof(struct Params)};
  VkPipelineLayoutCreateInfo plci = {.sType = VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO,
                                     .setLayoutCount = 1,
                                     .pSetLayouts = &set_layout,
                                     .pushConstantRangeCount = 1,
                                     .pPushConstantRanges = &pcr};
  VkPipelineLayout layout;
  CHECK(vkCreatePipelineLayout(dev, &plci, NULL, &layout));

  VkShaderModule module = VkSetupShader(&vk, argv[1]);
  VkComputePipelineCreateInfo cpci = {
      .sType = VK_STRUCTURE_TYPE_COMPUTE_PIPELINE_CREATE_INFO,
      .stage = {.sType = VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO,
                .stage = VK_SHADER_STAGE_COMPUTE_BIT,
                .module = module,
                .pName = "main"},
      .layout = layout};
  VkPipeline pipe;
  CHECK(vkCreateComputePipelines(dev, VK_NULL_HANDLE, 1, &cpci, NULL, &pipe));

  VkDescriptorPoolSize ps = {VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, 2};
  VkDescriptorPoolCreateInfo dpci = {.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_POOL_CREATE_INFO,
                                     .maxSets = 1,
                                     .poolSizeCount = 1,
                                     .pPoolSizes = &ps};
  VkDescriptorPool pool;
  CHECK(vkCreateDescriptorPool(dev, &dpci, NULL, &pool));
  VkDescriptorSetAllocateInfo dsai = {.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_ALLOCATE_INFO,
                                      .descriptorPool = pool,
                                      .descriptorSetCount = 1,
                                      .pSetLayouts = &set_layout};
  VkDescriptorSet set;
  CHECK(vkAllocateDescriptorSets(dev, &dsai, &set));
  VkDescriptorBufferInfo bufs[2] = {{in_buf, 0, kBytes}, {out_buf, 0, kBytes}};
  VkWriteDescriptorSet wr = {.sType = VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET,
                             .dstSet = set,
                             .dstBinding = 0,
                             .descriptorCount = 2,
                             .descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER,
                             .pBufferInfo = bufs};
  vkUpdateDescriptorSets(dev, 1, &wr, 0, NULL);

  VkCommandPoolCreateInfo cpi = {.sType = VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO,
                                 .flags = VK_COMMAND_POOL_CREATE_RESET_COMMAND_BUFFER_BIT,
                                 .queueFamilyIndex = vk.family};
  VkCommandPool cmd_pool;
  CHECK(vkCreateCommandPool(dev, &cpi, NULL, &cmd_pool));
  VkCommandBuffer cbs[2];
  VkCommandBufferAllocateInfo cbai = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO,
                                      .commandPool = cmd_pool,
                                      .level = VK_COMMAND_BUFFER_LEVEL_PRIMARY,
                                      .commandBufferCount = 1};
  CHECK(vkAllocateCommandBuffers(dev, &cbai, &cbs[0]));
  cbai.level = VK_COMMAND_BUFFER_LEVEL_SECONDARY;
  CHECK(vkAllocateCommandBuffers(dev, &cbai, &cbs[1]));
  VkFenceCreateInfo fci = {.sType = VK_STRUCTURE_TYPE_FENCE_CREATE_INFO};
  VkFence fence;
  CHECK(vkCreateFence(dev, &fci, NULL, &fence));

  for (uint32_t pass = 0; pass < passes; ++pass) {
    // Dispatch sizes vary: from a quarter of the buffer up to all of it.
    const uint32_t count = kElements / 4 + (kElements / 4) * (pass % 4);
    VkCommandBufferBeginInfo begin = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO,
                                      .flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT};
    if (secondary) {
      VkCommandBufferInheritanceInfo inh = {.sType =
                                                VK_STRUCTURE_TYPE_COMMAND_BUFFER_INHERITANCE_INFO};
      VkCommandBufferBeginInfo sb = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO,
                                     .flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT,
                                     .pInheritanceInfo = &inh};
      CHECK(vkBeginCommandBuffer(cbs[1], &sb));
      RecordDispatch(cbs[1], pipe, layout, set, count, pass);
      CHECK(vkEndCommandBuffer(cbs[1]));
      CHECK(vkBeginCommandBuffer(cbs[0], &begin));
      vkCmdExecuteCommands(cbs[0], 1, &cbs[1]);
    } else {
      CHECK(vkBeginCommandBuffer(cbs[0], &begin));
      RecordDispatch(cbs[0], pipe, layout, set, count, pass);
    }
    VkMemoryBarrier mb = {.sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER,
                          .srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT,
                          .dstAccessMask = VK_ACCESS_HOST_READ_BIT};
    vkCmdPipelineBarrier(cbs[0], VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, VK_PIPELINE_STAGE_HOST_BIT,
                         0, 1, &mb, 0, NULL, 0, NULL);
    CHECK(vkEndCommandBuffer(cbs[0]));
    VkSubmitInfo si = {.sType = VK_STRUCTURE_TYPE_SUBMIT_INFO,
                       .commandBufferCount = 1,
                       .pCommandBuffers = &cbs[0]};
    CHECK(vkQueueSubmit(vk.queue, 1, &si, fence));
    CHECK(vkWaitForFences(dev, 1, &fence, VK_TRUE, UINT64_MAX));
    CHECK(vkResetFences(dev, 1, &fence));
  }

  uint32_t* out;
  CHECK(vkMapMemory(dev, out_mem, 0, kBytes, 0, (void**)&out));
  uint64_t sum = 0;
  for (uint32_t i = 0; i < kElements; ++i) sum += out[i];
  vkUnmapMemory(dev, out_mem);
  printf("passes: %u%s, output sum: %llu\n", passes,
         secondary ? " (secondary command buffers)" : "", (unsigned long long)sum);

  vkDestroyFence(dev, fence, NULL);
  vkDestroyCommandPool(dev, cmd_pool, NULL);
  vkDestroyDescriptorPool(dev, pool, NULL);
  vkDestroyPipeline(dev, pipe, NULL);
  vkDestroyShaderModule(dev, module, NULL);
  vkDestroyPipelineLayout(dev, layout, NULL);
  vkDestroyDescriptorSetLayout(dev, set_layout, NULL);
  vkDestroyBuffer(dev, in_buf, NULL);
  vkDestroyBuffer(dev, out_buf, NULL);
  vkFreeMemory(dev, in_mem, NULL);
  vkFreeMemory(dev, out_mem, NULL);
  vkDestroyDevice(dev, NULL);
  vkDestroyInstance(vk.inst, NULL);
  return 0;
}

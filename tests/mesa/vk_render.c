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
#include <vulkan/vulkan.h>

#define CHECK(call)                                                                 \
  do {                                                                              \
    VkResult r_ = (call);                                                           \
    if (r_ != VK_SUCCESS) {                                                         \
      fprintf(stderr, "vk_render: %s failed: %d (line %d)\n", #call, r_, __LINE__); \
      exit(1);                                                                      \
    }                                                                               \
  } while (0)

enum { kSize = 256, kGrid = 256, kMaxTris = kGrid * kGrid * 2 };

static VkShaderModule Module(VkDevice dev, const char* path) {
  FILE* f = fopen(path, "rb");
  if (!f) {
    fprintf(stderr, "vk_render: cannot open %s\n", path);
    exit(1);
  }
  fseek(f, 0, SEEK_END);
  const size_t size = (size_t)ftell(f);
  fseek(f, 0, SEEK_SET);
  uint32_t* code = malloc(size);
  if (fread(code, 1, size, f) != size) exit(1);
  fclose(f);
  VkShaderModuleCreateInfo ci = {
      .sType = VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO, .codeSize = size, .pCode = code};
  VkShaderModule m;
  CHECK(vkCreateShaderModule(dev, &ci, NULL, &m));
  free(code);
  return m;
}

static uint32_t MemoryType(VkPhysicalDevice pd, uint32_t bits, VkMemoryPropertyFlags want) {
  VkPhysicalDeviceMemoryProperties p;
  vkGetPhysicalDeviceMemoryProperties(pd, &p);
  for (uint32_t i = 0; i < p.memoryTypeCount; ++i)
    if ((bits & (1u << i)) && (p.memoryTypes[i].propertyFlags & want) == want) return i;
  fprintf(stderr, "vk_render: no memory type\n");
  exit(1);
}

static VkDeviceMemory Allocate(VkPhysicalDevice pd, VkDevice dev, VkMemoryRequirements req,
                               VkMemoryPropertyFlags want) {
  VkMemoryAllocateInfo ai = {.sType = VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO,
                             .allocationSize = req.size,
                             .memoryTypeIndex = MemoryType(pd, req.memoryTypeBits, want)};
  VkDeviceMemory mem;
  CHECK(vkAllocateMemory(dev, &ai, NULL, &mem));
  return mem;
}

static VkBuffer HostBuffer(VkPhysicalDevice pd, VkDevice dev, VkDeviceSize size,
                           VkBufferUsageFlags usage, VkDeviceMemory* mem) {
  VkBufferCreateInfo bi = {.sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO,
                           .size = size,
                           .usage = usage,
                           .sharingMode = VK_SHARING_MODE_EXCLUSIVE};
  VkBuffer b;
  CHECK(vkCreateBuffer(dev, &bi, NULL, &b));
  VkMemoryRequirements req;
  vkGetBufferMemoryRequirements(dev, b, &req);
  *mem = Allocate(pd, dev, req,
                  VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT);
  CHECK(vkBindBufferMemory(dev, b, *mem, 0));
  return b;
}

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
  VkApplicationInfo app = {.sType = VK_STRUCTURE_TYPE_APPLICATION_INFO,
                           .pApplicationName = "faultlab vk_render",
                           .apiVersion = VK_API_VERSION_1_1};
  VkInstanceCreateInfo ici = {.sType = VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO,
                              .pApplicationInfo = &app};
  VkInstance inst;
  CHECK(vkCreateInstance(&ici, NULL, &inst));
  uint32_t n = 1;
  VkPhysicalDevice pd;
  VkResult er = vkEnumeratePhysicalDevices(inst, &n, &pd);
  if ((er != VK_SUCCESS && er != VK_INCOMPLETE) || n == 0) {
    fprintf(stderr, "vk_render: no Vulkan device\n");
    return 1;
  }
  uint32_t qn = 0;
  vkGetPhysicalDeviceQueueFamilyProperties(pd, &qn, NULL);
  VkQueueFamilyProperties qf[8];
  if (qn > 8) qn = 8;
  vkGetPhysicalDeviceQueueFamilyProperties(pd, &qn, qf);
  uint32_t family = UINT32_MAX;
  for (uint32_t i = 0; i < qn && family == UINT32_MAX; ++i)
    if (qf[i].queueFlags & VK_QUEUE_GRAPHICS_BIT) family = i;
  if (family == UINT32_MAX) {
    fprintf(stderr, "vk_render: no graphics queue\n");
    return 1;
  }
  float prio = 1.0f;
  VkDeviceQueueCreateInfo qci = {.sType = VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO,
                                 .queueFamilyIndex = family,
                                 .queueCount = 1,
                                 .pQueuePriorities = &prio};
  VkDeviceCreateInfo dci = {.sType = VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO,
                            .queueCreateInfoCount = 1,
                            .pQueueCreateInfos = &qci};
  VkDevice dev;
  CHECK(vkCreateDevice(pd, &dci, NULL, &dev));
  VkQueue queue;
  vkGetDeviceQueue(dev, family, 0, &queue);

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
  VkDeviceMemory image_mem = Allocate(pd, dev, ireq, 0);
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
  VkShaderModule vs = Module(dev, argv[1]), fs = Module(dev, argv[2]);
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
  VkBuffer vbuf = HostBuffer(pd, dev, vbytes, VK_BUFFER_USAGE_VERTEX_BUFFER_BIT, &vmem);
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
  VkBuffer rbuf = HostBuffer(pd, dev, kSize * kSize * 4, VK_BUFFER_USAGE_TRANSFER_DST_BIT, &rmem);

  VkCommandPoolCreateInfo cpi = {.sType = VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO,
                                 .flags = VK_COMMAND_POOL_CREATE_RESET_COMMAND_BUFFER_BIT,
                                 .queueFamilyIndex = family};
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
    CHECK(vkQueueSubmit(queue, 1, &si, fence));
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
  vkDestroyInstance(inst, NULL);
  return 0;
}

// What the Mesa tier's Vulkan programs (vk_compute.c, vk_render.c) share:
// a headless instance and device with one queue, SPIR-V modules from files,
// host-visible buffers. Each fails loudly, naming the program and the call.
//
//   struct VkSetup vk = VkSetupDevice("vk_render", VK_QUEUE_GRAPHICS_BIT);
//   VkShaderModule m = VkSetupShader(&vk, "render.vert.spv");
#ifndef FAULTLAB_TESTS_MESA_VK_SETUP_H_
#define FAULTLAB_TESTS_MESA_VK_SETUP_H_

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <vulkan/vulkan.h>

// The program's name, for messages (set by VkSetupDevice).
static const char* vk_program = "vk";

#define CHECK(call)                                                                      \
  do {                                                                                   \
    VkResult r_ = (call);                                                                \
    if (r_ != VK_SUCCESS) {                                                              \
      fprintf(stderr, "%s: %s failed: %d (line %d)\n", vk_program, #call, r_, __LINE__); \
      exit(1);                                                                           \
    }                                                                                    \
  } while (0)

struct VkSetup {
  VkInstance inst;
  VkPhysicalDevice pd;
  VkDevice dev;
  VkQueue queue;
  uint32_t family;
};

// The first device, a device on it with one queue of a family that has
// `flags`; prints the device's name.
static struct VkSetup VkSetupDevice(const char* program, VkQueueFlags flags) {
  vk_program = program;
  struct VkSetup vk;
  VkApplicationInfo app = {.sType = VK_STRUCTURE_TYPE_APPLICATION_INFO,
                           .pApplicationName = program,
                           .apiVersion = VK_API_VERSION_1_1};
  VkInstanceCreateInfo ici = {.sType = VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO,
                              .pApplicationInfo = &app};
  CHECK(vkCreateInstance(&ici, NULL, &vk.inst));
  uint32_t n = 1;
  VkResult er = vkEnumeratePhysicalDevices(vk.inst, &n, &vk.pd);
  if ((er != VK_SUCCESS && er != VK_INCOMPLETE) || n == 0) {
    fprintf(stderr, "%s: no Vulkan device\n", program);
    exit(1);
  }
  VkPhysicalDeviceProperties props;
  vkGetPhysicalDeviceProperties(vk.pd, &props);
  printf("device: %s\n", props.deviceName);
  uint32_t qn = 0;
  vkGetPhysicalDeviceQueueFamilyProperties(vk.pd, &qn, NULL);
  VkQueueFamilyProperties qf[8];
  if (qn > 8) qn = 8;
  vkGetPhysicalDeviceQueueFamilyProperties(vk.pd, &qn, qf);
  vk.family = UINT32_MAX;
  for (uint32_t i = 0; i < qn && vk.family == UINT32_MAX; ++i)
    if ((qf[i].queueFlags & flags) == flags) vk.family = i;
  if (vk.family == UINT32_MAX) {
    fprintf(stderr, "%s: no queue family with flags 0x%x\n", program, flags);
    exit(1);
  }
  float prio = 1.0f;
  VkDeviceQueueCreateInfo qci = {.sType = VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO,
                                 .queueFamilyIndex = vk.family,
                                 .queueCount = 1,
                                 .pQueuePriorities = &prio};
  VkDeviceCreateInfo dci = {.sType = VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO,
                            .queueCreateInfoCount = 1,
                            .pQueueCreateInfos = &qci};
  CHECK(vkCreateDevice(vk.pd, &dci, NULL, &vk.dev));
  vkGetDeviceQueue(vk.dev, vk.family, 0, &vk.queue);
  return vk;
}

// A shader module from a SPIR-V file.
static VkShaderModule VkSetupShader(const struct VkSetup* vk, const char* path) {
  FILE* f = fopen(path, "rb");
  if (!f) {
    fprintf(stderr, "%s: cannot open %s\n", vk_program, path);
    exit(1);
  }
  fseek(f, 0, SEEK_END);
  const size_t size = (size_t)ftell(f);
  fseek(f, 0, SEEK_SET);
  uint32_t* code = malloc(size);
  if (fread(code, 1, size, f) != size) {
    fprintf(stderr, "%s: cannot read %s\n", vk_program, path);
    exit(1);
  }
  fclose(f);
  VkShaderModuleCreateInfo ci = {
      .sType = VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO, .codeSize = size, .pCode = code};
  VkShaderModule m;
  CHECK(vkCreateShaderModule(vk->dev, &ci, NULL, &m));
  free(code);
  return m;
}

// Memory of a type in `bits` with the properties `want` (0: any).
static VkDeviceMemory VkSetupMemory(const struct VkSetup* vk, VkMemoryRequirements req,
                                    VkMemoryPropertyFlags want) {
  VkPhysicalDeviceMemoryProperties p;
  vkGetPhysicalDeviceMemoryProperties(vk->pd, &p);
  for (uint32_t i = 0; i < p.memoryTypeCount; ++i) {
    if (!(req.memoryTypeBits & (1u << i)) || (p.memoryTypes[i].propertyFlags & want) != want)
      continue;
    VkMemoryAllocateInfo ai = {.sType = VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO,
                               .allocationSize = req.size,
                               .memoryTypeIndex = i};
    VkDeviceMemory mem;
    CHECK(vkAllocateMemory(vk->dev, &ai, NULL, &mem));
    return mem;
  }
  fprintf(stderr, "%s: no memory type 0x%x\n", vk_program, want);
  exit(1);
}

// A host-visible, coherent buffer of `size` bytes, bound to its memory.
static VkBuffer VkSetupHostBuffer(const struct VkSetup* vk, VkDeviceSize size,
                                  VkBufferUsageFlags usage, VkDeviceMemory* mem) {
  VkBufferCreateInfo bi = {.sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO,
                           .size = size,
                           .usage = usage,
                           .sharingMode = VK_SHARING_MODE_EXCLUSIVE};
  VkBuffer b;
  CHECK(vkCreateBuffer(vk->dev, &bi, NULL, &b));
  VkMemoryRequirements req;
  vkGetBufferMemoryRequirements(vk->dev, b, &req);
  *mem = VkSetupMemory(vk, req,
                       VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT);
  CHECK(vkBindBufferMemory(vk->dev, b, *mem, 0));
  return b;
}

#endif  // FAULTLAB_TESTS_MESA_VK_SETUP_H_

// gles_render: the Mesa tier's GLES render loop (docs/mesa.md). Written
// against EGL and GLES 3 only, on a surfaceless display: a framebuffer
// object with two colour attachments (256x256 RGBA8) and a depth buffer, a
// 64x64 texture, and `--frames N` frames of textured draws whose triangle
// count grows frame by frame (more polygon list: the tiler heap grows),
// each frame read back with glReadPixels. The twin runs no shaders, so the
// read-back is summed and printed, not checked.
//
//   gles_render [--frames N]
#include <EGL/egl.h>
#include <EGL/eglext.h>
#include <GLES3/gl3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { kSize = 256, kTex = 64 };

static void Die(const char* what) {
  fprintf(stderr, "gles_render: %s (EGL 0x%x, GL 0x%x)\n", what, eglGetError(), glGetError());
  exit(1);
}

static GLuint Shader(GLenum type, const char* src) {
  GLuint s = glCreateShader(type);
  glShaderSource(s, 1, &src, NULL);
  glCompileShader(s);
  GLint ok = 0;
  glGetShaderiv(s, GL_COMPILE_STATUS, &ok);
  if (!ok) {
    char log[1024];
    glGetShaderInfoLog(s, sizeof(log), NULL, log);
    fprintf(stderr, "gles_render: shader: %s\n", log);
    exit(1);
  }
  return s;
}

static const char* kVertex =
    "#version 300 es\n"
    "in vec2 pos;\n"
    "out vec2 uv;\n"
    "uniform float t;\n"
    "void main() { uv = pos * 0.5 + 0.5; gl_Position = vec4(pos * (0.5 + 0.5 * t), 0.0, 1.0); }\n";
static const char* kFragment =
    "#version 300 es\n"
    "precision mediump float;\n"
    "in vec2 uv;\n"
    "uniform sampler2D tex;\n"
    "layout(location = 0) out vec4 color0;\n"
    "layout(location = 1) out vec4 color1;\n"
    "void main() { color0 = texture(tex, uv); color1 = vec4(uv, 0.0, 1.0); }\n";

int main(int argc, char** argv) {
  int frames = 8;
  for (int i = 1; i < argc; ++i) {
    if (!strcmp(argv[i], "--frames") && i + 1 < argc) {
      frames = atoi(argv[++i]);
    } else {
      fprintf(stderr, "usage: gles_render [--frames N]\n");
      return 2;
    }
  }
  PFNEGLGETPLATFORMDISPLAYEXTPROC get_display =
      (PFNEGLGETPLATFORMDISPLAYEXTPROC)eglGetProcAddress("eglGetPlatformDisplayEXT");
  if (!get_display) Die("no eglGetPlatformDisplayEXT");
  EGLDisplay dpy = get_display(EGL_PLATFORM_SURFACELESS_MESA, EGL_DEFAULT_DISPLAY, NULL);
  if (dpy == EGL_NO_DISPLAY || !eglInitialize(dpy, NULL, NULL)) Die("no surfaceless display");
  if (!eglBindAPI(EGL_OPENGL_ES_API)) Die("no GLES");
  const EGLint ctx_attribs[] = {EGL_CONTEXT_MAJOR_VERSION, 3, EGL_NONE};
  EGLContext ctx = eglCreateContext(dpy, EGL_NO_CONFIG_KHR, EGL_NO_CONTEXT, ctx_attribs);
  if (ctx == EGL_NO_CONTEXT) Die("no GLES 3 context");
  if (!eglMakeCurrent(dpy, EGL_NO_SURFACE, EGL_NO_SURFACE, ctx)) Die("eglMakeCurrent failed");
  printf("renderer: %s\n", (const char*)glGetString(GL_RENDERER));

  // The framebuffer: two colour attachments and a depth buffer.
  GLuint fbo, rt[2], depth, tex;
  glGenFramebuffers(1, &fbo);
  glBindFramebuffer(GL_FRAMEBUFFER, fbo);
  glGenTextures(2, rt);
  for (int i = 0; i < 2; ++i) {
    glBindTexture(GL_TEXTURE_2D, rt[i]);
    glTexStorage2D(GL_TEXTURE_2D, 1, GL_RGBA8, kSize, kSize);
    glFramebufferTexture2D(GL_FRAMEBUFFER, GL_COLOR_ATTACHMENT0 + i, GL_TEXTURE_2D, rt[i], 0);
  }
  glGenRenderbuffers(1, &depth);
  glBindRenderbuffer(GL_RENDERBUFFER, depth);
  glRenderbufferStorage(GL_RENDERBUFFER, GL_DEPTH_COMPONENT16, kSize, kSize);
  glFramebufferRenderbuffer(GL_FRAMEBUFFER, GL_DEPTH_ATTACHMENT, GL_RENDERBUFFER, depth);
  const GLenum bufs[2] = {GL_COLOR_ATTACHMENT0, GL_COLOR_ATTACHMENT1};
  glDrawBuffers(2, bufs);
  if (glCheckFramebufferStatus(GL_FRAMEBUFFER) != GL_FRAMEBUFFER_COMPLETE) Die("incomplete FBO");

  // The texture: a checkerboard.
  uint32_t* texels = malloc(kTex * kTex * 4);
  for (int y = 0; y < kTex; ++y)
    for (int x = 0; x < kTex; ++x) texels[y * kTex + x] = ((x ^ y) & 8) ? 0xffffffffu : 0xff000000u;
  glGenTextures(1, &tex);
  glBindTexture(GL_TEXTURE_2D, tex);
  glTexImage2D(GL_TEXTURE_2D, 0, GL_RGBA, kTex, kTex, 0, GL_RGBA, GL_UNSIGNED_BYTE, texels);
  glTexParameteri(GL_TEXTURE_2D, GL_TEXTURE_MIN_FILTER, GL_NEAREST);
  glTexParameteri(GL_TEXTURE_2D, GL_TEXTURE_MAG_FILTER, GL_NEAREST);
  free(texels);

  GLuint prog = glCreateProgram();
  glAttachShader(prog, Shader(GL_VERTEX_SHADER, kVertex));
  glAttachShader(prog, Shader(GL_FRAGMENT_SHADER, kFragment));
  glBindAttribLocation(prog, 0, "pos");
  glLinkProgram(prog);
  GLint linked = 0;
  glGetProgramiv(prog, GL_LINK_STATUS, &linked);
  if (!linked) Die("link failed");
  glUseProgram(prog);
  glUniform1i(glGetUniformLocation(prog, "tex"), 0);
  const GLint t_loc = glGetUniformLocation(prog, "t");

  // Vertices: a grid of small triangles; frame f draws (f + 1) / frames of them.
  const int grid = 320, max_tris = grid * grid * 2;  // the last frame: 16 MB of polygon list
  float* verts = malloc((size_t)max_tris * 3 * 2 * sizeof(float));
  int n = 0;
  for (int y = 0; y < grid; ++y) {
    for (int x = 0; x < grid; ++x) {
      const float x0 = -1 + 2.0f * x / grid, y0 = -1 + 2.0f * y / grid, d = 2.0f / grid;
      const float q[12] = {x0, y0, x0 + d, y0, x0, y0 + d, x0 + d, y0, x0 + d, y0 + d, x0, y0 + d};
      memcpy(verts + n, q, sizeof(q));
      n += 12;
    }
  }
  GLuint vbo;
  glGenBuffers(1, &vbo);
  glBindBuffer(GL_ARRAY_BUFFER, vbo);
  glBufferData(GL_ARRAY_BUFFER, (GLsizeiptr)n * sizeof(float), verts, GL_STATIC_DRAW);
  free(verts);
  glEnableVertexAttribArray(0);
  glVertexAttribPointer(0, 2, GL_FLOAT, GL_FALSE, 0, 0);
  glEnable(GL_DEPTH_TEST);
  glViewport(0, 0, kSize, kSize);

  uint8_t* pixels = malloc(kSize * kSize * 4);
  uint64_t sum = 0;
  for (int f = 0; f < frames; ++f) {
    glClearColor(0.1f * (f % 10), 0.2f, 0.3f, 1.0f);
    glClear(GL_COLOR_BUFFER_BIT | GL_DEPTH_BUFFER_BIT);
    glUniform1f(t_loc, (float)f / (float)(frames > 1 ? frames - 1 : 1));
    const int tris = max_tris * (f + 1) / frames;
    glDrawArrays(GL_TRIANGLES, 0, tris * 3);
    glReadBuffer(GL_COLOR_ATTACHMENT0);
    glReadPixels(0, 0, kSize, kSize, GL_RGBA, GL_UNSIGNED_BYTE, pixels);
    for (int i = 0; i < kSize * kSize * 4; i += 97) sum += pixels[i];
    if (glGetError() != GL_NO_ERROR) Die("a GL error");
  }
  free(pixels);
  printf("frames: %d, read-back sum: %llu\n", frames, (unsigned long long)sum);
  eglMakeCurrent(dpy, EGL_NO_SURFACE, EGL_NO_SURFACE, EGL_NO_CONTEXT);
  eglDestroyContext(dpy, ctx);
  eglTerminate(dpy);
  return 0;
}

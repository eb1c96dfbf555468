{
  "targets": [
    {
      "target_name": "vmprof",
      "sources": [
        "src/native/addon.cc",
        "src/native/session.cc",
        "src/native/signal.cc",
        "src/native/ticker.cc",
        "src/native/jit.cc",
        "src/native/writer.cc",
        "src/native/codemap.cc",
        "src/native/encoder.cc",
        "src/native/labels.cc",
        "src/native/unwind.cc",
        "src/native/symbols.cc"
      ],
      "libraries": ["-ldl"],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_CPP_EXCEPTIONS", "NODE_ADDON_API_DISABLE_DEPRECATED"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions", "-std=gnu++17"],
      "cflags_cc": ["-std=gnu++17", "-fexceptions", "-O2", "-Wall", "-Wextra", "-Wno-unused-parameter", "-Wno-missing-field-initializers"]
    }
  ]
}

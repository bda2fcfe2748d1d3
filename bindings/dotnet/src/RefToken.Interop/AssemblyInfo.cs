using System.Runtime.CompilerServices;

// Output buffers are stackalloc'd and written by the native library before they are read:
// zeroing them first is wasted work on every call.
[module: SkipLocalsInit]

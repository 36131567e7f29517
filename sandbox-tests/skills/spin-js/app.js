export const tools = {
  call(tool, input) {
    for (;;) {}
  },
};

// The output of an Extism plugin call: its bytes, with the text() and json() readers Extism's own SDK offers.

const utf8 = new TextDecoder();

export class PluginOutput extends Uint8Array {
  /** The bytes as UTF-8 text. */
  text(): string {
    return utf8.decode(this);
  }

  /** The bytes parsed as JSON text. Throws a SyntaxError when they are not JSON. */
  json(): unknown {
    return JSON.parse(this.text());
  }

  static copyOf(bytes: Uint8Array): PluginOutput {
    const out = new PluginOutput(bytes.length);
    out.set(bytes);
    return out;
  }
}

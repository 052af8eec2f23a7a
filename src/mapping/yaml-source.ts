/** YAML files with line numbers for every path, so mapping errors can say where. */
import { parseYamlText, readTextFile } from '../text-file';

export type YamlPath = (string | number)[];

export interface YamlFile {
  file: string;
  data: unknown;
  /** `file:line` of the node at `path` (or its nearest existing parent). */
  where(path: YamlPath): string;
}

export function readYamlFile(file: string): YamlFile {
  return parseYaml(readTextFile(file, 'file'), file);
}

export function parseYaml(text: string, file: string): YamlFile {
  const { doc, lines, data } = parseYamlText(text, file);
  return {
    file,
    data,
    where(path: YamlPath): string {
      for (let n = path.length; n >= 0; n--) {
        // The line of the key ("colour:") rather than of its value, when the value starts on the next line.
        const parent =
          n > 0
            ? (doc.getIn(path.slice(0, n - 1), true) as
                { items?: { key?: { value?: unknown; range?: [number, number, number] } }[] } | undefined)
            : undefined;
        const key = parent?.items?.find((item) => item.key?.value === path[n - 1])?.key;
        if (key?.range) return `${file}:${lines.linePos(key.range[0]).line}`;
        const node = doc.getIn(path.slice(0, n), true) as { range?: [number, number, number] } | undefined;
        if (node && typeof node === 'object' && node.range) return `${file}:${lines.linePos(node.range[0]).line}`;
      }
      return file;
    },
  };
}

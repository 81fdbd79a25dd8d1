// onnx-proto is CommonJS: its root object carries the `onnx` namespace.
import onnxProto from 'onnx-proto';

export const onnx = onnxProto.onnx;
export type { onnx as OnnxTypes } from 'onnx-proto';

// Entry point of the local Qiniu Kodo emulator used by the qiniu provider tests (see qiniu-emulator/).
export {
  startQiniuEmulator,
  EMULATOR_OPS,
  type EmulatorOp,
  type EmulatorStats,
  type QiniuEmulator,
  type QiniuEmulatorOptions,
  type QiniuFaults,
} from './qiniu-emulator/index.js';
export { verifyManagement, verifyPrivateDownload, verifyUploadToken, qiniuStringToSign } from './qiniu-emulator/auth.js';
